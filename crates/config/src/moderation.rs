//! The `[moderation]` section, validated: the action per tenant, category and side, the
//! fail mode, the scan budget, the stream window, the upload rule and the scanner's
//! overrides.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use bulwark_core::{Category, Side, TenantId};
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::{
    RawModeration, RawPerSide, RawSides,
    validated::{ConfigError, duration, err},
};

/// The section used when the configuration has no `[moderation]`: the no-configuration
/// behaviour is decided in this file, not in code.
pub const DEFAULT_MODERATION: &str = include_str!("moderation_default.toml");

/// What the gateway does when a category crosses its threshold. Ordered by severity:
/// when several categories fire, the most severe action wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let it through; the event still records what was found.
    Allow,
    /// Let it through and mark the event (`action: "flag"`).
    Flag,
    /// Refuse the prompt (400 `content_filter`), cut the answer
    /// (`finish_reason: "content_filter"`), refuse the upload.
    Block,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Flag => "flag",
            Self::Block => "block",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "allow" => Some(Self::Allow),
            "flag" => Some(Self::Flag),
            "block" => Some(Self::Block),
            _ => None,
        }
    }
}

/// What happens to a call when the scanner fails or overruns its time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Let the call through unchecked (the event and `x-bulwark-moderation: skipped` say
    /// so).
    Open,
    /// Refuse the call: 503 `moderation_unavailable`.
    Closed,
}

impl FailMode {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

const fn side_index(side: Side) -> usize {
    match side {
        Side::Input => 0,
        Side::Output => 1,
    }
}

/// The action for every category on each side, fully resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    actions: [[Action; 2]; Category::COUNT],
}

impl Policy {
    /// Every category blocked on both sides: what applies where nothing else is said.
    pub const BLOCK_ALL: Self = Self {
        actions: [[Action::Block; 2]; Category::COUNT],
    };

    /// The action for `category` on `side`.
    pub fn action(&self, category: Category, side: Side) -> Action {
        self.actions
            .get(category.index())
            .and_then(|sides| sides.get(side_index(side)))
            .copied()
            .unwrap_or(Action::Block)
    }

    /// Whether anything on `side` is other than allowed (so scanning it matters).
    pub fn any_enforced(&self, side: Side) -> bool {
        Category::ALL
            .iter()
            .any(|c| self.action(*c, side) != Action::Allow)
    }

    fn set(&mut self, category: Category, side: Side, action: Action) {
        if let Some(slot) = self
            .actions
            .get_mut(category.index())
            .and_then(|sides| sides.get_mut(side_index(side)))
        {
            *slot = action;
        }
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Category::COUNT))?;
        // One value when both sides agree, a table when they do not.
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Entry {
            Both(Action),
            Sides(SidesOut<Action>),
        }
        for category in Category::ALL {
            let input = self.action(category, Side::Input);
            let output = self.action(category, Side::Output);
            let entry = if input == output {
                Entry::Both(input)
            } else {
                Entry::Sides(SidesOut { input, output })
            };
            map.serialize_entry(category.id(), &entry)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct SidesOut<T> {
    input: T,
    output: T,
}

/// Per-category threshold overrides; `None` keeps the model's calibrated threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThresholdOverrides {
    sides: [[Option<f32>; Category::COUNT]; 2],
}

impl ThresholdOverrides {
    /// The overrides for `side`, by [`Category::index`].
    pub fn side(&self, side: Side) -> [Option<f32>; Category::COUNT] {
        self.sides
            .get(side_index(side))
            .copied()
            .unwrap_or([None; Category::COUNT])
    }

    /// Whether any threshold is overridden.
    pub fn is_empty(&self) -> bool {
        self.sides.iter().flatten().all(Option::is_none)
    }

    fn set(&mut self, category: Category, side: Side, value: f32) {
        if let Some(slot) = self
            .sides
            .get_mut(side_index(side))
            .and_then(|s| s.get_mut(category.index()))
        {
            *slot = Some(value);
        }
    }
}

impl Serialize for ThresholdOverrides {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let input = self.side(Side::Input);
        let output = self.side(Side::Output);
        for (category, (i, o)) in Category::ALL.iter().zip(input.iter().zip(&output)) {
            if i.is_some() || o.is_some() {
                map.serialize_entry(
                    category.id(),
                    &SidesOut {
                        input: i.map_or_else(|| "model".to_owned(), |v| v.to_string()),
                        output: o.map_or_else(|| "model".to_owned(), |v| v.to_string()),
                    },
                )?;
            }
        }
        map.end()
    }
}

/// One tenant's moderation settings, the global ones with its overrides laid over them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantModeration {
    pub fail_mode: FailMode,
    pub policy: Policy,
}

/// The validated `[moderation]` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModerationConfig {
    /// Where these settings come from: `configuration`, or `built-in default` when the
    /// configuration has no `[moderation]` section ([`DEFAULT_MODERATION`]).
    pub from: &'static str,
    pub enabled: bool,
    pub fail_mode: FailMode,
    #[serde(serialize_with = "crate::validated::duration_text::serialize")]
    pub scan_timeout: Duration,
    /// Characters held back per streamed choice.
    pub stream_window: usize,
    pub upload_reject_share: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// The semantic model file fused with `model` (see the raw field's docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic_model: Option<PathBuf>,
    #[serde(skip_serializing_if = "ThresholdOverrides::is_empty")]
    pub thresholds: ThresholdOverrides,
    /// The default policy (tenants without an entry in `tenants`).
    pub policy: Policy,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<TenantId, TenantModeration>,
}

impl ModerationConfig {
    /// The fail mode and policy for calls by `tenant`.
    pub fn for_tenant(&self, tenant: &TenantId) -> (FailMode, &Policy) {
        match self.tenants.get(tenant) {
            Some(t) => (t.fail_mode, &t.policy),
            None => (self.fail_mode, &self.policy),
        }
    }
}

/// What a policy or threshold key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Selector {
    All,
    Cyber,
    One(Category),
}

impl Selector {
    fn parse(key: &str) -> Option<Self> {
        match key {
            "*" => Some(Self::All),
            "cyber" | "cyber/*" => Some(Self::Cyber),
            other => Category::from_id(other).map(Self::One),
        }
    }

    fn covers(self, category: Category) -> bool {
        match self {
            Self::All => true,
            Self::Cyber => category.is_cyber(),
            Self::One(c) => c == category,
        }
    }
}

/// Parses the keys of a policy or threshold table and orders the entries from the least
/// to the most specific, so applying them in order lets the specific ones win.
fn entries<'a, T>(
    errors: &mut Vec<ConfigError>,
    field: &str,
    table: &'a BTreeMap<String, RawPerSide<T>>,
) -> Vec<(Selector, &'a str, &'a RawPerSide<T>)> {
    let mut out = Vec::with_capacity(table.len());
    for (key, value) in table {
        match Selector::parse(key) {
            Some(selector) => out.push((selector, key.as_str(), value)),
            None => errors.push(err(
                format!("{field}.\"{key}\""),
                format!(
                    "`{key}` is not a category: use `*`, `cyber`, or one of {}",
                    Category::ALL
                        .iter()
                        .map(|c| format!("`{}`", c.id()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            )),
        }
    }
    out.sort_by_key(|(selector, _, _)| *selector);
    out
}

fn sides<T>(value: &RawPerSide<T>) -> [(Side, Option<&T>); 2] {
    match value {
        RawPerSide::Both(v) => [(Side::Input, Some(v)), (Side::Output, Some(v))],
        RawPerSide::Sides(RawSides { input, output }) => [
            (Side::Input, input.as_ref()),
            (Side::Output, output.as_ref()),
        ],
    }
}

fn apply_policy(
    errors: &mut Vec<ConfigError>,
    field: &str,
    table: &BTreeMap<String, RawPerSide<String>>,
    policy: &mut Policy,
) {
    for (selector, key, value) in entries(errors, field, table) {
        for (side, text) in sides(value) {
            let Some(text) = text else { continue };
            let Some(action) = Action::parse(text) else {
                let error = err(
                    format!("{field}.\"{key}\""),
                    format!("`{text}` is not `allow`, `flag` or `block`"),
                );
                // `"*" = "maybe"` names both sides: say it once.
                if !errors.contains(&error) {
                    errors.push(error);
                }
                continue;
            };
            for category in Category::ALL {
                if selector.covers(category) {
                    policy.set(category, side, action);
                }
            }
        }
    }
}

fn fail_mode(errors: &mut Vec<ConfigError>, field: &str, text: &str) -> FailMode {
    FailMode::parse(text).unwrap_or_else(|| {
        errors.push(err(field, format!("`{text}` is not `open` or `closed`")));
        FailMode::Closed
    })
}

/// Validates `[moderation]`, or the built-in default when the section is absent.
pub(crate) fn validate(
    errors: &mut Vec<ConfigError>,
    raw: Option<&RawModeration>,
) -> ModerationConfig {
    let builtin;
    let (raw, from) = match raw {
        Some(raw) => (raw, "configuration"),
        None => {
            builtin = toml::from_str::<RawModeration>(DEFAULT_MODERATION).unwrap_or_else(|e| {
                errors.push(err(
                    "moderation",
                    format!("the built-in default section is invalid (a bug): {e}"),
                ));
                RawModeration::default()
            });
            (&builtin, "built-in default")
        }
    };

    let fail = match raw.fail_mode.as_deref() {
        Some(text) => fail_mode(errors, "moderation.fail_mode", text),
        None => {
            errors.push(err(
                "moderation.fail_mode",
                "missing: a [moderation] section must say `fail_mode = \"open\"` or \
                 `fail_mode = \"closed\"` (what happens to a call the scanner cannot check)",
            ));
            FailMode::Closed
        }
    };
    let scan_timeout = duration(
        errors,
        "moderation.scan_timeout",
        raw.scan_timeout.as_deref(),
        "250ms",
        false,
    );
    let stream_window = match raw.stream_window.unwrap_or(64) {
        w if w > 64 * 1024 => {
            errors.push(err(
                "moderation.stream_window",
                format!("{w} is more than 65536 characters"),
            ));
            64
        }
        w => usize::try_from(w).unwrap_or(64),
    };
    let upload_reject_share = match raw.upload_reject_share.unwrap_or(0.0) {
        share if (0.0..=1.0).contains(&share) => share,
        share => {
            errors.push(err(
                "moderation.upload_reject_share",
                format!("{share} is not a share between 0 and 1"),
            ));
            0.0
        }
    };
    let model = match raw.model.as_deref() {
        Some("") => {
            errors.push(err("moderation.model", "must not be empty when set"));
            None
        }
        other => other.map(PathBuf::from),
    };
    let semantic_model = match raw.semantic_model.as_deref() {
        Some("") => {
            errors.push(err(
                "moderation.semantic_model",
                "must not be empty when set",
            ));
            None
        }
        other => other.map(PathBuf::from),
    };

    let mut thresholds = ThresholdOverrides::default();
    for (selector, key, value) in entries(errors, "moderation.thresholds", &raw.thresholds) {
        for (side, v) in sides(value) {
            let Some(v) = v.copied() else { continue };
            if !(0.0..=1.0).contains(&v) {
                errors.push(err(
                    format!("moderation.thresholds.\"{key}\""),
                    format!("{v} is not a score between 0 and 1"),
                ));
                continue;
            }
            for category in Category::ALL {
                if selector.covers(category) {
                    thresholds.set(category, side, v as f32);
                }
            }
        }
    }

    let mut policy = Policy::BLOCK_ALL;
    apply_policy(errors, "moderation.policy", &raw.policy, &mut policy);

    let mut tenants = BTreeMap::new();
    for (id, tenant) in &raw.tenants {
        let field = format!("moderation.tenants.{id}");
        let Ok(tenant_id) = TenantId::parse(id) else {
            errors.push(err(
                field,
                format!("`{id}` is not a tenant id such as `ten_01j…`"),
            ));
            continue;
        };
        let mut tenant_policy = policy;
        apply_policy(
            errors,
            &format!("{field}.policy"),
            &tenant.policy,
            &mut tenant_policy,
        );
        let tenant_fail = match tenant.fail_mode.as_deref() {
            Some(text) => fail_mode(errors, &format!("{field}.fail_mode"), text),
            None => fail,
        };
        tenants.insert(
            tenant_id,
            TenantModeration {
                fail_mode: tenant_fail,
                policy: tenant_policy,
            },
        );
    }

    ModerationConfig {
        from,
        enabled: raw.enabled.unwrap_or(true),
        fail_mode: fail,
        scan_timeout,
        stream_window,
        upload_reject_share,
        model,
        semantic_model,
        thresholds,
        policy,
        tenants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, RawConfig};

    fn config(text: &str) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = toml::from_str(text).unwrap();
        Config::from_raw(&raw, &|_| None)
    }

    #[test]
    fn no_section_blocks_everything_and_fails_closed() {
        let m = config("version = 1").unwrap().moderation;
        assert_eq!(m.from, "built-in default");
        assert!(m.enabled);
        assert_eq!(m.fail_mode, FailMode::Closed);
        assert_eq!(m.policy, Policy::BLOCK_ALL);
        assert_eq!(m.stream_window, 64);
        assert_eq!(m.scan_timeout, Duration::from_millis(250));
        assert!(m.thresholds.is_empty());
    }

    #[test]
    fn a_section_must_state_its_fail_mode() {
        let errors = config("version = 1\n[moderation]\nstream_window = 32").unwrap_err();
        assert_eq!(errors[0].field, "moderation.fail_mode", "{errors:?}");
        let m = config("version = 1\n[moderation]\nfail_mode = \"open\"")
            .unwrap()
            .moderation;
        assert_eq!(m.from, "configuration");
        assert_eq!(m.fail_mode, FailMode::Open);
        assert_eq!(
            m.policy,
            Policy::BLOCK_ALL,
            "what no entry covers is blocked"
        );
    }

    #[test]
    fn specific_entries_win_and_tenants_overlay_the_default() {
        let m = config(
            r#"
            version = 1
            [moderation]
            fail_mode = "closed"
            [moderation.policy]
            "cyber/phishing" = { output = "flag" }
            "*" = "flag"
            cyber = { input = "allow" }
            [moderation.tenants.ten_redteam]
            fail_mode = "open"
            policy = { "cyber/*" = "allow" }
            "#,
        )
        .unwrap()
        .moderation;
        use Category::*;
        assert_eq!(m.policy.action(Jailbreak, Side::Input), Action::Flag);
        assert_eq!(m.policy.action(Malware, Side::Input), Action::Allow);
        assert_eq!(m.policy.action(Malware, Side::Output), Action::Flag);
        assert_eq!(m.policy.action(Phishing, Side::Output), Action::Flag);
        let red = TenantId::parse("ten_redteam").unwrap();
        let (fail, policy) = m.for_tenant(&red);
        assert_eq!(fail, FailMode::Open);
        assert_eq!(policy.action(Phishing, Side::Output), Action::Allow);
        assert_eq!(policy.action(Jailbreak, Side::Output), Action::Flag);
        let other = TenantId::parse("ten_other").unwrap();
        assert_eq!(m.for_tenant(&other).0, FailMode::Closed);
    }

    #[test]
    fn bad_values_name_their_field() {
        let errors = config(
            r#"
            version = 1
            [moderation]
            fail_mode = "sometimes"
            upload_reject_share = 2.0
            scan_timeout = "soon"
            thresholds = { "cyber/phish" = 0.5, jailbreak = 1.5 }
            policy = { illicit = "deny" }
            tenants = { acme = { fail_mode = "open" } }
            "#,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "moderation.fail_mode",
            "moderation.upload_reject_share",
            "moderation.scan_timeout",
            "moderation.thresholds.\"cyber/phish\"",
            "moderation.thresholds.\"jailbreak\"",
            "moderation.policy.\"illicit\"",
            "moderation.tenants.acme",
        ] {
            assert!(fields.contains(&expected), "missing {expected}: {errors:?}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let raw = toml::from_str::<RawConfig>(
            "version = 1\n[moderation]\nfail_mode = \"open\"\nwindow = 3",
        );
        assert!(raw.unwrap_err().to_string().contains("window"));
    }

    #[test]
    fn thresholds_apply_per_side_and_print() {
        let c = config(
            "version = 1\n[moderation]\nfail_mode = \"open\"\nthresholds = { cyber = { output = 0.25 }, jailbreak = 0.75 }",
        )
        .unwrap();
        let m = &c.moderation;
        let out = m.thresholds.side(Side::Output);
        assert_eq!(out[Category::Phishing.index()], Some(0.25));
        assert_eq!(out[Category::Jailbreak.index()], Some(0.75));
        assert_eq!(
            m.thresholds.side(Side::Input)[Category::Phishing.index()],
            None
        );
        let text = c.to_toml();
        assert!(text.contains("[moderation.policy"), "{text}");
        assert!(text.contains("fail_mode = \"open\""), "{text}");
    }
}
