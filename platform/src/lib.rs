//! `faasin serve`: a FaaS platform on one host. It keeps functions
//! deployed (a config file at start, an admin API after), takes invocations
//! over HTTP, keeps warm instances of every function, and runs each chain
//! invocation on fresh FAASIN rings between them: the request body streams
//! into the first function and the last one's output streams back as the
//! response while the chain still runs.
//!
//! Roles are kept apart, over the runner's engine: [`front`] (routes,
//! bodies, status codes) and [`admin`] (deploy, list, delete) are HTTP;
//! [`pool`] schedules instances (warm pools, bounded queues, cold starts,
//! idle reaping); [`invoke`] runs one invocation on instances it leased;
//! [`service`] ties them together and shuts them down. A Lambda function
//! runs under [`lambda_host`], which serves it AWS's [`runtime_api`]. On a
//! node of a cluster, [`across`] spreads an invocation over nodes when
//! [`cluster`] places functions elsewhere: [`peer`] asks peers to run
//! segments of it, and [`tcp_edges`] carries the edges between nodes.

pub mod across;
pub mod admin;
pub mod bridge;
pub mod cluster;
pub mod config;
pub mod front;
pub mod invoke;
pub mod lambda_host;
pub mod lambda_outcome;
pub mod local_part;
pub mod metrics;
pub mod peer;
pub mod pool;
pub mod registry;
pub mod results;
pub mod runtime_api;
pub mod service;
pub mod tcp_edges;

pub use service::serve;
