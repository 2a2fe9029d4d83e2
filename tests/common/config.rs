//! Gateway configs as TOML text, built from pieces: the sections every test gateway has
//! ([`preamble`]), accounts ([`client`]), carrier links ([`carrier`], [`carrier_table`]), routes
//! ([`route`], [`mo_route`]), and the two whole configs most tests start from ([`config`],
//! [`routed_config`]).

use std::path::Path;

/// `defaults` (one `key = value` line each) and then `keys`, leaving out each default whose
/// key `keys` sets itself: `keys` replace the defaults they name.
fn with_defaults(defaults: &[&str], keys: &str) -> String {
    let key = |line: &str| line.split(' ').next().unwrap_or_default().to_owned();
    let named: Vec<String> = keys.lines().map(key).collect();
    let mut text: String = defaults
        .iter()
        .filter(|line| !named.contains(&key(line)))
        .map(|line| format!("{line}\n"))
        .collect();
    text.push_str(keys);
    text
}

/// The sections of every test gateway, with `server`, `store` and `admin` keys in them (which
/// replace the defaults they name): `[server]` listening on a free port, `[store]` in
/// `dir/store` with the free-space guard off (a test host's disk may be nearly full; tests of
/// the guard set their own limit), and `[admin]` on a free port. `server` may end in its own
/// subtables (`[server.session]`).
pub fn preamble(dir: &Path, server: &str, store: &str, admin: &str) -> String {
    let store_path = format!("path = \"{}\"", dir.join("store").display());
    format!(
        "\n[server]\n{}\n\n[store]\n{}\n\n[admin]\n{}\n\n",
        with_defaults(&["listen = [\"127.0.0.1:0\"]"], server),
        with_defaults(&[&store_path, "min_free_space = \"off\""], store),
        with_defaults(&["listen = \"127.0.0.1:0\""], admin),
    )
}

/// A config with one plain listener on port 0, `session` keys in `[server.session]`, the store
/// in `dir`, and `clients` appended (TOML `[[clients]]` tables). The free-space guard is off,
/// as in [`preamble`].
pub fn config(dir: &Path, session: &str, clients: &str) -> String {
    let server = format!("system_id = \"smppd-test\"\n\n[server.session]\n{session}");
    preamble(dir, &server, "", "") + clients
}

/// `config` (from the builders here) with `keys` added to its `[store]` section.
pub fn with_store_keys(config: &str, keys: &str) -> String {
    assert!(
        config.contains("\n[store]\n"),
        "no [store] section in {config}"
    );
    config.replacen("\n[store]\n", &format!("\n[store]\n{keys}\n"), 1)
}

/// A client account for `config`.
pub fn client(system_id: &str, password: &str, extra: &str) -> String {
    format!("[[clients]]\nsystem_id = \"{system_id}\"\npassword = \"{password}\"\n{extra}\n")
}

/// A `[[carriers]]` table for a carrier on 127.0.0.1:`port` that binds as `smppd` / `secret`,
/// with `keys` and no others (the gateway's defaults).
pub fn carrier_table(name: &str, port: u16, keys: &str) -> String {
    format!(
        "\n[[carriers]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         system_id = \"smppd\"\npassword = \"secret\"\n{keys}\n"
    )
}

/// A `[[carriers]]` table for a simulator on `port` that reconnects and retries quickly, with
/// `extra` keys (which replace those timers when they name them).
pub fn carrier(name: &str, port: u16, extra: &str) -> String {
    let keys = with_defaults(
        &[
            "reconnect_min = \"50ms\"",
            "reconnect_max = \"200ms\"",
            "retry_min = \"100ms\"",
            "retry_max = \"500ms\"",
            "response_timeout = \"1s\"",
        ],
        extra,
    );
    carrier_table(name, port, &keys)
}

/// A `[[routes]]` table: `name` over `carriers` (in failover order), with `keys`.
pub fn route(name: &str, carriers: &[&str], keys: &str) -> String {
    let names: Vec<String> = carriers.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "\n[[routes]]\nname = \"{name}\"\ncarriers = [{}]\n{keys}\n",
        names.join(", ")
    )
}

/// A `[[mo_routes]]` table: messages to `destination` go to `client`.
pub fn mo_route(destination: &str, client: &str) -> String {
    format!("\n[[mo_routes]]\ndestinations = [\"{destination}\"]\nclient = \"{client}\"\n")
}

/// A gateway config with client `shop` (password `secret1`), `carriers` (tables from
/// [`carrier`]), one route `default` over `route_carriers` with `route_extra` keys, and the
/// admin API on a free port with `admin_extra` keys; the free-space guard off, as in [`config`].
pub fn routed_config(
    dir: &Path,
    carriers: &[String],
    route_carriers: &[&str],
    route_extra: &str,
    admin_extra: &str,
) -> String {
    preamble(dir, "", "", admin_extra)
        + &client("shop", "secret1", "window = 100")
        + &carriers.concat()
        + &route("default", route_carriers, route_extra)
}
