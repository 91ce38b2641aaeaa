//! Tool names the gateway keeps for itself under `[catalog]` (`find_tools`,
//! `call_tool`): a service's tool exposed under one of them is taken out of
//! its service's contribution before the catalogs are merged, and reported
//! as a collision that service loses. At start that stops the gateway when
//! the service is a `[[services]]` entry written in the config file; a
//! bridged server or a registered service — at start or at run time — only
//! loses: the tool is not listed nor callable, and the collision is logged;
//! `micromcp check` prints it. Without tool search the names are ordinary.

use std::sync::Arc;

use super::{ServiceCatalog, exposed_name};

/// Takes the tools exposed under a `reserved` name out of `contributions`;
/// returns, per tool taken, the collision's text and the service that lost.
pub fn take_out_reserved(
    contributions: &mut [ServiceCatalog],
    separator: &str,
    reserved: &[&str],
) -> Vec<(String, String)> {
    let mut taken = Vec::new();
    if reserved.is_empty() {
        return taken;
    }
    let is_reserved = |namespace: &str, name: &str| {
        reserved.contains(&exposed_name(namespace, separator, name).as_str())
    };
    for contribution in contributions {
        let tools = &contribution.catalog.tools;
        if !tools
            .iter()
            .any(|tool| is_reserved(&contribution.namespace, &tool.name))
        {
            continue;
        }
        let mut kept = (*contribution.catalog).clone();
        kept.tools.retain(|tool| {
            let name = exposed_name(&contribution.namespace, separator, &tool.name);
            if !reserved.contains(&name.as_str()) {
                return true;
            }
            taken.push((
                format!(
                    "service {:?} offers tool {name:?}, but {} are reserved for the gateway's tool search ([catalog] find_tools / disclosure); not listed",
                    contribution.service_name,
                    reserved.join(" and ")
                ),
                contribution.service_name.clone(),
            ));
            false
        });
        contribution.catalog = Arc::new(kept);
    }
    taken
}

#[cfg(test)]
mod tests {
    use micromcp_proto::{Catalog, Tool};

    use super::*;

    fn offering(namespace: &str, names: &[&str]) -> ServiceCatalog {
        let tools = names
            .iter()
            .map(|name| Tool {
                name: (*name).into(),
                ..Tool::default()
            })
            .collect();
        ServiceCatalog {
            service: 0,
            service_name: "up".into(),
            namespace: namespace.into(),
            catalog: Arc::new(Catalog {
                tools,
                ..Catalog::default()
            }),
        }
    }

    #[test]
    fn a_reserved_name_is_taken_out_and_reported() {
        let reserved = ["find_tools", "call_tool"];
        let mut contributions = [
            offering("", &["find_tools", "echo"]),
            offering("ns", &["find_tools"]),
        ];
        let taken = take_out_reserved(&mut contributions, ".", &reserved);
        assert_eq!(taken.len(), 1, "{taken:?}");
        assert!(
            taken[0].0.contains(r#"offers tool "find_tools""#),
            "{taken:?}"
        );
        assert_eq!(taken[0].1, "up");
        let kept: Vec<&str> = contributions[0]
            .catalog
            .tools
            .iter()
            .map(|tool| tool.name.as_str())
            .collect();
        assert_eq!(kept, ["echo"]);
        // ns.find_tools is not the gateway's name; without tool search
        // nothing is reserved.
        assert_eq!(contributions[1].catalog.tools.len(), 1);
        let mut plain = [offering("", &["call_tool"])];
        assert!(take_out_reserved(&mut plain, ".", &[]).is_empty());
        assert_eq!(plain[0].catalog.tools.len(), 1);
    }
}
