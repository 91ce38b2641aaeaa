//! Compiles `micromcp/v1/*.proto` with protox (pure Rust, no system `protoc`)
//! and generates prost messages plus tonic client and server code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_files = ["micromcp/v1/service.proto"];
    for proto_file in proto_files {
        println!("cargo:rerun-if-changed={proto_file}");
    }
    let file_descriptors = protox::Compiler::new(["."])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(proto_files)?
        .file_descriptor_set();
    tonic_prost_build::configure()
        .bytes(".micromcp.v1")
        // Rare on the hot path: boxed so every call's start message (and
        // the gateway future holding it) stays small.
        .boxed(".micromcp.v1.CallToolStart.input_round")
        .compile_fds(file_descriptors)?;
    Ok(())
}
