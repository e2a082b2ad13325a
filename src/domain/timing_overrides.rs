//! A connector's own timings: any of SPEC §4's durations, each unset (the
//! installation's value) or set. Stored as text like `3d`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::time::{format_duration, parse_duration};
use super::{ParseError, RelayDelay, Timings};

/// The names a connector may set, in the order the settings page shows them.
pub const TIMING_NAMES: &[&str] = &[
    "remind-after",
    "expire-after",
    "undo-window",
    "relay-delay",
    "reconfirm-after",
    "follow-up-after",
    "cooldown",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimingOverrides {
    values: BTreeMap<&'static str, String>,
}

impl TimingOverrides {
    /// Parses `name → text` pairs; an empty text means "unset". Each value
    /// is checked, and so is the whole (a reminder must come before expiry).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        base: &Timings,
    ) -> Result<Self, ParseError> {
        let mut values = BTreeMap::new();
        for (name, text) in pairs {
            let Some(name) = TIMING_NAMES.iter().find(|n| **n == name) else {
                return Err(ParseError::new(
                    "timings",
                    format!("unknown setting `{name}`"),
                ));
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            check_one(name, text)?;
            values.insert(*name, text.to_string());
        }
        let overrides = Self { values };
        let t = overrides.apply_unchecked(base);
        if t.remind_after >= t.expire_after {
            return Err(ParseError::new(
                "remind-after",
                "the reminder must come before the ask expires (remind-after < expire-after)",
            ));
        }
        if t.expire_after < Duration::from_secs(3600) {
            return Err(ParseError::new(
                "expire-after",
                "an ask needs at least an hour (1h) to be answered",
            ));
        }
        // The protections of the people being asked can be made stronger,
        // never weaker, than the installation's.
        if t.relay_delay.min < base.relay_delay.min || t.relay_delay.max < base.relay_delay.max {
            return Err(ParseError::new(
                "relay-delay",
                format!(
                    "the relay delay hides how fast someone said no; it can be longer than this installation's {}, not shorter",
                    base.relay_delay
                ),
            ));
        }
        if t.cooldown < base.cooldown {
            return Err(ParseError::new(
                "cooldown",
                format!(
                    "the cooldown protects people who said no; it can be longer than this installation's {}, not shorter",
                    format_duration(base.cooldown)
                ),
            ));
        }
        if t.undo_window < base.undo_window {
            return Err(ParseError::new(
                "undo-window",
                format!(
                    "the undo window lets people take back a click; it can be longer than this installation's {}, not shorter",
                    format_duration(base.undo_window)
                ),
            ));
        }
        if t.undo_window > Duration::from_secs(24 * 3600) {
            return Err(ParseError::new(
                "undo-window",
                "the undo window can be at most a day (24h)",
            ));
        }
        Ok(overrides)
    }

    /// The text stored for `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.values).unwrap_or_else(|_| "{}".into())
    }

    /// Reads stored JSON; values that no longer parse are ignored (and the
    /// installation's value applies) rather than failing every intro.
    pub fn from_json(text: &str) -> Self {
        let raw: BTreeMap<String, String> = serde_json::from_str(text).unwrap_or_default();
        let values = raw
            .into_iter()
            .filter_map(|(k, v)| {
                let name = TIMING_NAMES.iter().find(|n| **n == k)?;
                check_one(name, &v).ok()?;
                Some((*name, v))
            })
            .collect();
        Self { values }
    }

    /// `base` with every set value in place of the installation's; the
    /// protections (relay delay, cooldown, undo window) never below it.
    pub fn apply(&self, base: &Timings) -> Timings {
        let mut t = self.apply_unchecked(base);
        // Stored values were checked against the installation's when saved;
        // should the installation raise its floors later, they still hold.
        t.relay_delay.min = t.relay_delay.min.max(base.relay_delay.min);
        t.relay_delay.max = t
            .relay_delay
            .max
            .max(base.relay_delay.max)
            .max(t.relay_delay.min);
        t.cooldown = t.cooldown.max(base.cooldown);
        t.undo_window = t.undo_window.max(base.undo_window);
        t
    }

    fn apply_unchecked(&self, base: &Timings) -> Timings {
        let mut t = *base;
        let d = |name: &str| self.get(name).and_then(|v| parse_duration(v).ok());
        if let Some(v) = d("remind-after") {
            t.remind_after = v;
        }
        if let Some(v) = d("expire-after") {
            t.expire_after = v;
        }
        if let Some(v) = d("undo-window") {
            t.undo_window = v;
        }
        if let Some(v) = self
            .get("relay-delay")
            .and_then(|v| v.parse::<RelayDelay>().ok())
        {
            t.relay_delay = v;
        }
        if let Some(v) = d("reconfirm-after") {
            t.reconfirm_after = v;
        }
        if let Some(v) = d("cooldown") {
            t.cooldown = v;
        }
        match self.get("follow-up-after") {
            Some("off") => t.follow_up_after = None,
            Some(_) => {
                if let Some(v) = d("follow-up-after") {
                    t.follow_up_after = Some(v);
                }
            }
            None => {}
        }
        t
    }
}

fn check_one(name: &str, text: &str) -> Result<(), ParseError> {
    let field: &'static str = TIMING_NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("timings");
    let bad = |e: String| ParseError::new(field, format!("{name}: {e}"));
    match name {
        "relay-delay" => text.parse::<RelayDelay>().map(|_| ()).map_err(bad),
        "follow-up-after" if text == "off" => Ok(()),
        _ => parse_duration(text).map(|_| ()).map_err(bad),
    }
}

/// The installation's value of `name`, as the settings page shows it.
pub fn timing_text(t: &Timings, name: &str) -> String {
    match name {
        "remind-after" => format_duration(t.remind_after),
        "expire-after" => format_duration(t.expire_after),
        "undo-window" => format_duration(t.undo_window),
        "relay-delay" => t.relay_delay.to_string(),
        "reconfirm-after" => format_duration(t.reconfirm_after),
        "cooldown" => format_duration(t.cooldown),
        "follow-up-after" => t
            .follow_up_after
            .map(format_duration)
            .unwrap_or_else(|| "off".into()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_replace_the_installations() {
        let base = Timings::default();
        let o = TimingOverrides::parse(
            [
                ("remind-after", "1d"),
                ("expire-after", ""),
                ("follow-up-after", "off"),
            ],
            &base,
        )
        .unwrap();
        let t = o.apply(&base);
        assert_eq!(t.remind_after, Duration::from_secs(86_400));
        assert_eq!(t.expire_after, base.expire_after);
        assert_eq!(t.follow_up_after, None);
        assert_eq!(TimingOverrides::from_json(&o.to_json()), o);
    }

    #[test]
    fn protections_can_be_raised_but_not_lowered() {
        let base = Timings::default();
        for (name, value) in [
            ("relay-delay", "0s"),
            ("cooldown", "10d"),
            ("undo-window", "1m"),
        ] {
            let e = TimingOverrides::parse([(name, value)], &base).unwrap_err();
            assert_eq!(e.field, name, "{e}");
        }
        let o = TimingOverrides::parse([("relay-delay", "48h..100h"), ("cooldown", "120d")], &base)
            .unwrap();
        assert_eq!(o.apply(&base).cooldown, Duration::from_secs(120 * 86_400));
        // A value stored under a lower installation floor is raised.
        let stored = TimingOverrides::from_json(r#"{"cooldown":"1d"}"#);
        assert_eq!(stored.apply(&base).cooldown, base.cooldown);
    }

    #[test]
    fn nonsense_is_refused_with_the_setting_named() {
        let base = Timings::default();
        let e = TimingOverrides::parse([("expire-after", "soon")], &base).unwrap_err();
        assert_eq!(e.field, "expire-after");
        let e = TimingOverrides::parse([("remind-after", "10d")], &base).unwrap_err();
        assert!(e.message.contains("before the ask expires"));
        assert!(TimingOverrides::parse([("colour", "1d")], &base).is_err());
    }
}
