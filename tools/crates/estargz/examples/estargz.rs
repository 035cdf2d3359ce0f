//! Test helper (the e2e lazy-pull test builds it): writes a tar as an eStargz blob and prints
//! the blob's facts as JSON.
//!
//!   estargz IN.tar OUT.blob [--chunk-size BYTES] [--prioritize PATH]...

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("estargz: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let usage = "usage: estargz IN.tar OUT.blob [--chunk-size BYTES] [--prioritize PATH]...";
    let [input, output, flags @ ..] = args.as_slice() else {
        return Err(usage.to_string());
    };
    let mut options = sematic_estargz::Options::default();
    for pair in flags.chunks(2) {
        match pair {
            [flag, value] if flag == "--chunk-size" => {
                options.chunk_size = value
                    .parse()
                    .map_err(|_| format!("--chunk-size {value:?} is not a number"))?;
            }
            [flag, value] if flag == "--prioritize" => options.prioritized.push(value.clone()),
            _ => return Err(usage.to_string()),
        }
    }
    let reader = BufReader::new(File::open(input).map_err(|e| format!("{input}: {e}"))?);
    let partial = format!("{output}.partial");
    let writer = BufWriter::new(File::create(&partial).map_err(|e| format!("{partial}: {e}"))?);
    let blob = sematic_estargz::write(reader, writer, &options).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        e.to_string()
    })?;
    std::fs::rename(&partial, output).map_err(|e| format!("{output}: {e}"))?;
    println!(
        "{{\"digest\": \"{}\", \"size\": {}, \"toc_digest\": \"{}\", \"diff_id\": \"{}\", \"uncompressed_size\": {}}}",
        blob.digest, blob.size, blob.toc_digest, blob.diff_id, blob.uncompressed_size
    );
    Ok(())
}
