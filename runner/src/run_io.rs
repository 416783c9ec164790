//! Where a run's input comes from and its output goes: `--input` and
//! `--output` files, else (duplicates of) stdin and stdout.

use crate::options::{Options, SetupError};
use crate::process::dup_std;
use std::fs::File;
use std::io::{Read, Write};

pub struct RunIo {
    pub input: Box<dyn Read + Send>,
    pub output: Box<dyn Write + Send>,
}

impl RunIo {
    pub fn open(opts: &Options) -> Result<RunIo, SetupError> {
        Ok(RunIo {
            input: open_input(opts)?,
            output: open_output(opts)?,
        })
    }
}

pub fn open_input(opts: &Options) -> Result<Box<dyn Read + Send>, SetupError> {
    Ok(match &opts.input {
        Some(p) => Box::new(
            File::open(p)
                .map_err(|e| SetupError(format!("cannot open input file {}: {e}", p.display())))?,
        ),
        None => Box::new(File::from(
            dup_std(0).map_err(|e| SetupError(format!("cannot use stdin: {e}")))?,
        )),
    })
}

pub fn open_output(opts: &Options) -> Result<Box<dyn Write + Send>, SetupError> {
    Ok(match &opts.output {
        Some(p) => {
            Box::new(File::create(p).map_err(|e| {
                SetupError(format!("cannot create output file {}: {e}", p.display()))
            })?)
        }
        None => Box::new(File::from(
            dup_std(1).map_err(|e| SetupError(format!("cannot use stdout: {e}")))?,
        )),
    })
}
