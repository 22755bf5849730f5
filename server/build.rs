//! Generates the event-forwarder protocol's messages, client and server from
//! `proto/eventforwarder.proto` with protox (a protobuf compiler in Rust: no protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/eventforwarder.proto");
    let descriptors = protox::compile(["eventforwarder.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
