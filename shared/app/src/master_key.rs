//! Master keys: from configuration in production, generated once into the data directory in
//! the embedded default (so a restart can still open what it sealed).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use sethub_config::Config;

use crate::StartError;

/// Parses `secrets.master_keys`, or in the embedded default reads/creates `data_dir/master.key`.
pub fn load_master_keys(config: &Config) -> Result<Vec<(String, [u8; 32])>, StartError> {
    let entries: Vec<String> = if config.secrets.master_keys.is_empty() {
        if !config.backends().is_embedded() {
            return Err(StartError::Config(
                "secrets.master_keys is required outside the embedded default: set \
                 SETHUB_SECRETS__MASTER_KEYS='[\"k1:<base64 of 32 random bytes>\"]' \
                 (e.g. from `head -c32 /dev/urandom | base64`)"
                    .to_owned(),
            ));
        }
        vec![embedded_key(&config.data_dir)?]
    } else {
        config
            .secrets
            .master_keys
            .iter()
            .map(|s| s.expose().clone())
            .collect()
    };
    entries.iter().map(|e| parse(e)).collect()
}

fn parse(entry: &str) -> Result<(String, [u8; 32]), StartError> {
    let bad = |why: &str| StartError::Config(format!("secrets.master_keys: {why}"));
    let (id, b64) = entry
        .split_once(':')
        .ok_or_else(|| bad("an entry is not `id:base64`"))?;
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| bad(&format!("key `{id}` is not valid base64")))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| bad(&format!("key `{id}` must be exactly 32 bytes")))?;
    Ok((id.to_owned(), key))
}

fn embedded_key(data_dir: &Path) -> Result<String, StartError> {
    let path = data_dir.join("master.key");
    if path.exists() {
        return std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| StartError::Io(format!("cannot read {}: {e}", path.display())));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StartError::Io(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| StartError::Io("the system random generator failed".to_owned()))?;
    let entry = format!("embedded:{}", STANDARD.encode(key));
    write_private(&path, &entry)
        .map_err(|e| StartError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(entry)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_key_of_the_wrong_length_is_refused_with_its_id() {
        let err = parse("k1:AAAA").unwrap_err().to_string();
        assert!(err.contains("k1") && err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn the_embedded_default_generates_a_key_once_and_reuses_it() {
        let dir = std::env::temp_dir().join(format!("sethub-mk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let first = load_master_keys(&config).unwrap();
        let second = load_master_keys(&config).unwrap();
        assert_eq!(first, second);
        assert_eq!(first[0].0, "embedded");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
