//! Every gateway config shipped under `deploy/` parses and validates (with a
//! token supplied as `MICROMCP_TOKEN` would be).

use std::path::Path;

use micromcp_gateway::config::parse_toml;

fn configs(directory: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("deploy dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            configs(&path, found);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            found.push(path);
        }
    }
}

#[test]
fn every_deploy_config_validates() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut found = Vec::new();
    configs(&deploy, &mut found);
    assert!(!found.is_empty(), "no configs under deploy/");
    for path in found {
        let text = std::fs::read_to_string(&path).expect("read");
        let raw =
            parse_toml(&text).unwrap_or_else(|errors| panic!("{}: {errors:?}", path.display()));
        raw.validate(Some("token-from-the-environment"))
            .unwrap_or_else(|errors| panic!("{}: {errors:?}", path.display()));
    }
}
