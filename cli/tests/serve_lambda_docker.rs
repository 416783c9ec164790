//! Lambda functions in containers under `faasin serve`: Python's and Java's
//! official runtime interface clients, each in a container without a
//! network (`--network none`) with its host, chained with a process. They
//! need a Docker daemon and the images of examples/lambda/images/build.sh;
//! examples/lambda/test.sh runs them.

mod common;
use common::service::*;
use common::*;

fn container_fn(name: &str, image: &str, argv: &[&str], extra: &str) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[function]]\nname = \"{name}\"\nkind = \"lambda\"\nimage = \"{image}\"\ncommand = [{}]\nenv = {{ LAMBDA_TASK_ROOT = \"/var/task\" }}\n{extra}\n",
        argv.join(", ")
    )
}

#[test]
#[ignore = "needs a Docker daemon and the Lambda images; examples/lambda/test.sh runs it"]
fn python_and_java_handlers_in_containers_stream_through_a_chain() {
    let py = ["/usr/bin/python3", "-m", "awslambdaric"];
    let java = [
        "/opt/java/bin/java",
        "-cp",
        "/var/task:/var/task/lib/*",
        "com.amazonaws.services.lambda.runtime.api.client.AWSLambda",
        "example.Shout::handleRequest",
    ];
    let defs = [
        container_fn(
            "pybox",
            "faasin-lambda-python",
            &[&py[..], &["shout.handler"]].concat(),
            "",
        ),
        container_fn("javabox", "faasin-lambda-java", &java, "memory = \"512m\""),
        container_fn(
            "ctxbox",
            "faasin-lambda-python",
            &[&py[..], &["cases.context_of"]].concat(),
            "memory = \"256m\"",
        ),
        function("count", &[faasin_bin().to_str().unwrap(), "cat"], ""),
        chain("boxed", &["pybox", "javabox", "count"], ""),
    ]
    .concat();
    let s = Served::start("lambda-docker", &defs);
    let text: Vec<u8> = (0..1 << 20).map(|i| b"in a box\n"[i % 9]).collect();
    for _ in 0..2 {
        let (status, body, report) = s.invoke("/chains/boxed?where=docker", text.clone());
        assert_eq!(status, 200, "{report}\n{}", s.log());
        assert_eq!(body, text.to_ascii_uppercase());
        for k in 0..2 {
            let v = &report["functions"][k]["return_value"];
            assert_eq!(v["bytes"], text.len(), "function {}: {report}", k + 1);
            assert_eq!(v["query"]["where"], "docker", "{report}");
        }
        assert_eq!(report["functions"][2]["return_value"]["bytes"], text.len());
    }
    let (status, _, report) = s.invoke("/functions/ctxbox", "");
    assert_eq!(status, 200, "{report}");
    let v = &report["functions"][0]["return_value"];
    assert_eq!(
        v["memory_limit_in_mb"].to_string().trim_matches('"'),
        "256",
        "{report}"
    );
    assert_eq!(v["function_name"], "ctxbox");
}
