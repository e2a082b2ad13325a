//! One table on the console and the same figures in `target/bench.json`:
//! each with its value, the baseline measured in the same run, their ratio,
//! and the target it must meet.

use std::path::Path;

use serde::Serialize;

/// What a figure must reach.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", content = "limit", rename_all = "snake_case")]
pub enum Target {
    /// value / baseline must be at least this.
    RatioAtLeast(f64),
    /// The value itself must be at least this.
    AtLeast(f64),
    /// The value itself must be below this.
    Below(f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline: Option<f64>,
    pub baseline_name: Option<String>,
    pub ratio: Option<f64>,
    pub targets: Vec<Target>,
    pub met: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub backend: String,
    pub quick: bool,
    pub figures: Vec<Figure>,
}

impl Report {
    /// Adds a figure; its ratio is value / baseline.
    pub fn add(
        &mut self,
        name: &str,
        value: f64,
        unit: &'static str,
        baseline: Option<(&str, f64)>,
        targets: &[Target],
    ) {
        let ratio = baseline.map(|(_, b)| value / b.max(f64::MIN_POSITIVE));
        let met = targets.iter().all(|t| match *t {
            Target::RatioAtLeast(r) => ratio.is_some_and(|x| x >= r),
            Target::AtLeast(v) => value >= v,
            Target::Below(v) => value < v,
        });
        let figure = Figure {
            name: name.to_string(),
            value,
            unit,
            baseline: baseline.map(|(_, b)| b),
            baseline_name: baseline.map(|(n, _)| n.to_string()),
            ratio,
            targets: targets.to_vec(),
            met,
        };
        eprintln!("  measured: {}", line(&figure));
        self.figures.push(figure);
    }

    pub fn all_met(&self) -> bool {
        self.figures.iter().all(|f| f.met)
    }

    pub fn print(&self) {
        println!(
            "\ntwoyes-bench ({}{})\n",
            self.backend,
            if self.quick { ", quick" } else { "" }
        );
        println!(
            "{:<44} {:>12} {:<6} {:>12}  {:<34} {:>7}  {:<22} met",
            "figure", "value", "unit", "baseline", "baseline is", "ratio", "target"
        );
        for f in &self.figures {
            println!("{}", line(f));
        }
        let missed = self.figures.iter().filter(|f| !f.met).count();
        if missed == 0 {
            println!("\nevery target met");
        } else {
            println!("\n{missed} target(s) missed");
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }
}

fn line(f: &Figure) -> String {
    let targets: Vec<String> = f
        .targets
        .iter()
        .map(|t| match *t {
            Target::RatioAtLeast(r) => format!(">= {r}x"),
            Target::AtLeast(v) => format!(">= {}", number(v)),
            Target::Below(v) => format!("< {}", number(v)),
        })
        .collect();
    format!(
        "{:<44} {:>12} {:<6} {:>12}  {:<34} {:>7}  {:<22} {}",
        f.name,
        number(f.value),
        f.unit,
        f.baseline.map(number).unwrap_or_else(|| "-".into()),
        f.baseline_name.as_deref().unwrap_or("-"),
        f.ratio
            .map(|r| format!("{r:.2}x"))
            .unwrap_or_else(|| "-".into()),
        if targets.is_empty() {
            "-".into()
        } else {
            targets.join(", ")
        },
        if f.met { "yes" } else { "NO" }
    )
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_meets_its_targets_only_when_all_hold() {
        let mut report = Report::default();
        report.add(
            "a",
            30.0,
            "req/s",
            Some(("b", 100.0)),
            &[Target::RatioAtLeast(0.25)],
        );
        report.add(
            "c",
            30.0,
            "req/s",
            Some(("b", 100.0)),
            &[Target::RatioAtLeast(0.5)],
        );
        report.add("d", 19.9, "ms", None, &[Target::Below(20.0)]);
        report.add("e", 20.0, "ms", None, &[Target::Below(20.0)]);
        report.add(
            "f",
            1000.0,
            "msg/s",
            Some(("g", 5000.0)),
            &[Target::AtLeast(1000.0), Target::RatioAtLeast(0.25)],
        );
        let met: Vec<bool> = report.figures.iter().map(|f| f.met).collect();
        assert_eq!(met, [true, false, true, false, false]);
        assert!(!report.all_met());
    }
}
