//! Compiles `inventory.proto` with protox (no system `protoc`), keeping its
//! comments (source info) for reflection, and generates the tonic server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=inventory.proto");
    let file_descriptors = protox::Compiler::new(["."])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(["inventory.proto"])?
        .file_descriptor_set();
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("inventory_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(file_descriptors)?;
    Ok(())
}
