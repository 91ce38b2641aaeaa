//! `micromcp tls-cert`: a private CA and certificates signed by it, for the
//! QUIC links between the gateway and its services (the gateway trusts the
//! CA with `tls_ca`; a service presents its certificate with `--tls-cert`;
//! the same certificates serve as client identities for mTLS). Meant for
//! development and small deployments; production may bring its own PKI.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Arguments of `micromcp tls-cert`.
#[derive(clap::Args)]
pub struct TlsCertArgs {
    /// Directory to write `ca.pem` and `<name>.pem` / `<name>-key.pem` into.
    #[arg(long)]
    out: PathBuf,
    /// DNS name or IP address of a certificate to issue (repeatable); the
    /// first part of the name names the files.
    #[arg(long = "name", required = true)]
    names: Vec<String>,
}

/// Writes a new CA and one certificate per name; refuses to overwrite.
pub fn run(args: &TlsCertArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let ca_path = args.out.join("ca.pem");
    let mut planned = vec![ca_path.clone()];
    for name in &args.names {
        planned.push(args.out.join(format!("{}.pem", file_stem(name))));
        planned.push(args.out.join(format!("{}-key.pem", file_stem(name))));
    }
    if let Some(existing) = planned.iter().find(|path| path.exists()) {
        anyhow::bail!(
            "{} exists; refusing to overwrite (use a new --out)",
            existing.display()
        );
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Micro-MCP private CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    write(&ca_path, &ca.pem(), false)?;
    for name in &args.names {
        let mut params = CertificateParams::new(vec![name.clone()])
            .with_context(|| format!("--name {name:?}"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, name.as_str());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &ca)?;
        let stem = file_stem(name);
        write(
            &args.out.join(format!("{stem}.pem")),
            &certificate.pem(),
            false,
        )?;
        write(
            &args.out.join(format!("{stem}-key.pem")),
            &key.serialize_pem(),
            true,
        )?;
        println!("{name}: {stem}.pem, {stem}-key.pem");
    }
    println!("CA (the gateway's tls_ca): {}", ca_path.display());
    println!("the CA's private key was not kept: issue new certificates with a new --out");
    Ok(())
}

/// `fs.internal` → `fs`; an IP address stays whole.
fn file_stem(name: &str) -> String {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return name.replace(':', "_");
    }
    name.split('.').next().unwrap_or(name).to_owned()
}

fn write(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| path.display().to_string())?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
