//! Charts for dashboards and statistics: Rust builds an Apache ECharts option as JSON, the
//! page carries it in a `data-chart` attribute and `kit.js` draws it with the vendored
//! library (no inline script, nothing fetched). Every chart also carries its numbers as a
//! table under "查看数据" — for screen readers, printing without script, and checking.
//!
//! ```ignore
//! chart::bar("按机构登记", &labels, &[Series::new("居民", values)]).render()
//! ```

use maud::{Markup, html};
use serde_json::{Value, json};

/// The palette: dark enough for 3:1 against white (WCAG non-text contrast).
const COLOURS: [&str; 8] = [
    "#0b6e4f", "#1d5fbf", "#b35900", "#8a2be2", "#b00020", "#00796b", "#5d4037", "#455a64",
];

/// One named series of numbers.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: impl IntoIterator<Item = impl Into<f64>>) -> Self {
        Self {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

/// A chart ready to draw: the option, its title and the data behind it.
#[derive(Debug, Clone)]
pub struct Chart {
    title: String,
    option: Value,
    class: &'static str,
    heads: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

fn base(title: &str) -> Value {
    json!({
        "color": COLOURS,
        "aria": { "enabled": true, "decal": { "show": false } },
        "title": { "text": title, "left": "center", "textStyle": { "fontSize": 15, "color": "#1a1a1a" } },
        "tooltip": {},
        "grid": { "left": 16, "right": 24, "top": 56, "bottom": 24, "containLabel": true },
    })
}

fn axis_chart(kind: &str, title: &str, categories: &[String], series: &[Series]) -> Chart {
    let mut o = base(title);
    o["tooltip"] = json!({ "trigger": "axis" });
    if series.len() > 1 {
        o["legend"] = json!({ "top": 26 });
    }
    o["xAxis"] =
        json!({ "type": "category", "data": categories, "axisLabel": { "color": "#333" } });
    o["yAxis"] = json!({ "type": "value", "minInterval": 1, "axisLabel": { "color": "#333" } });
    o["series"] = series
        .iter()
        .map(|s| {
            let mut v = json!({ "name": s.name, "type": kind, "data": s.values });
            if kind == "line" {
                v["smooth"] = json!(false);
                v["symbolSize"] = json!(6);
            }
            v
        })
        .collect();
    let mut heads = vec![String::new()];
    heads.extend(series.iter().map(|s| s.name.clone()));
    let rows = categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut r = vec![c.clone()];
            r.extend(
                series
                    .iter()
                    .map(|s| s.values.get(i).copied().map(num).unwrap_or_default()),
            );
            r
        })
        .collect();
    Chart {
        title: title.into(),
        option: o,
        class: "chart",
        heads,
        rows,
    }
}

/// A line chart over categories (hours, days, months).
pub fn line(title: &str, categories: &[String], series: &[Series]) -> Chart {
    axis_chart("line", title, categories, series)
}

/// A bar chart over categories.
pub fn bar(title: &str, categories: &[String], series: &[Series]) -> Chart {
    axis_chart("bar", title, categories, series)
}

/// A pie (ring) chart of parts of a whole.
pub fn pie(title: &str, parts: &[(String, f64)]) -> Chart {
    let mut o = base(title);
    o["tooltip"] = json!({ "trigger": "item", "formatter": "{b}：{c}（{d}%）" });
    o["legend"] = json!({ "bottom": 0, "type": "scroll" });
    o["series"] = json!([{
        "type": "pie",
        "radius": ["38%", "66%"],
        "center": ["50%", "52%"],
        "label": { "formatter": "{b}\n{c}", "color": "#1a1a1a" },
        "data": parts.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>(),
    }]);
    Chart {
        title: title.into(),
        option: o,
        class: "chart",
        heads: vec!["项目".into(), "数量".into()],
        rows: parts
            .iter()
            .map(|(n, v)| vec![n.clone(), num(*v)])
            .collect(),
    }
}

/// A point of a scatter chart.
#[derive(Debug, Clone)]
pub struct Point {
    pub name: String,
    pub x: f64,
    pub y: f64,
}

/// A scatter chart; with `quadrant` = Some((x, y)) dashed lines split it into four
/// quadrants at those values (e.g. cost against quality, volume against error rate).
pub fn scatter(
    title: &str,
    x_name: &str,
    y_name: &str,
    points: &[Point],
    quadrant: Option<(f64, f64)>,
) -> Chart {
    let mut o = base(title);
    o["tooltip"] = json!({ "trigger": "item" });
    o["xAxis"] = json!({ "type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 28, "scale": true });
    o["yAxis"] = json!({ "type": "value", "name": y_name, "scale": true });
    let mut s = json!({
        "type": "scatter",
        "symbolSize": 12,
        "data": points.iter().map(|p| json!({ "name": p.name, "value": [p.x, p.y] })).collect::<Vec<_>>(),
        "label": { "show": points.len() <= 20, "formatter": "{b}", "position": "right", "color": "#1a1a1a" },
    });
    if let Some((x, y)) = quadrant {
        s["markLine"] = json!({
            "silent": true,
            "symbol": "none",
            "lineStyle": { "type": "dashed", "color": "#555" },
            "data": [{ "xAxis": x }, { "yAxis": y }],
        });
    }
    o["series"] = json!([s]);
    Chart {
        title: title.into(),
        option: o,
        class: "chart",
        heads: vec!["名称".into(), x_name.into(), y_name.into()],
        rows: points
            .iter()
            .map(|p| vec![p.name.clone(), num(p.x), num(p.y)])
            .collect(),
    }
}

/// A gauge of one value between 0 and `max` (e.g. an error rate in percent).
pub fn gauge(title: &str, name: &str, value: f64, max: f64, unit: &str) -> Chart {
    let mut o = base(title);
    o["series"] = json!([{
        "type": "gauge",
        "min": 0,
        "max": max,
        "radius": "80%",
        "center": ["50%", "60%"],
        "progress": { "show": true, "width": 14 },
        "axisLine": { "lineStyle": { "width": 14 } },
        "axisLabel": { "color": "#333", "distance": 22 },
        "detail": { "valueAnimation": false, "formatter": format!("{{value}}{unit}"), "fontSize": 24, "offsetCenter": [0, "45%"], "color": "#1a1a1a" },
        "title": { "offsetCenter": [0, "75%"], "color": "#333" },
        "data": [{ "value": (value * 100.0).round() / 100.0, "name": name }],
    }]);
    Chart {
        title: title.into(),
        option: o,
        class: "chart gauge",
        heads: vec![name.into(), "上限".into()],
        rows: vec![vec![
            format!("{}{unit}", num(value)),
            format!("{}{unit}", num(max)),
        ]],
    }
}

impl Chart {
    /// A smaller drawing (dashboards).
    pub fn small(mut self) -> Self {
        self.class = if self.class.contains("gauge") {
            "chart gauge small"
        } else {
            "chart small"
        };
        self
    }

    /// The option as JSON (for tests and other renderers).
    pub fn option(&self) -> &Value {
        &self.option
    }

    /// The figure: the drawing area (role img, named by the title) and the data table.
    pub fn render(&self) -> Markup {
        html! {
            figure.chart-figure {
                div class=(self.class) role="img" aria-label=(self.title) data-chart=(self.option.to_string()) {}
                details.chart-data {
                    summary { "查看数据：" (self.title) }
                    div.table-wrap { table {
                        thead { tr { @for h in &self.heads { th { (h) } } } }
                        tbody { @for r in &self.rows { tr { @for c in r { td { (c) } } } } }
                    } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_carry_the_data_and_the_table_matches() {
        let cats = vec!["1月".to_string(), "2月".to_string()];
        let c = bar("按月登记", &cats, &[Series::new("居民", [3, 5])]);
        assert_eq!(c.option()["series"][0]["data"], json!([3.0, 5.0]));
        assert_eq!(c.option()["xAxis"]["data"], json!(["1月", "2月"]));
        let html = c.render().into_string();
        assert!(html.contains("data-chart=") && html.contains("<td>5</td>"));
        assert!(!html.contains("<script"), "no inline script");
        let p = pie("状态", &[("成功".into(), 9.0), ("失败".into(), 1.0)]);
        assert_eq!(p.option()["series"][0]["data"][1]["name"], "失败");
        let s = scatter(
            "通道",
            "消息量",
            "错误率",
            &[Point {
                name: "HIS".into(),
                x: 10.0,
                y: 0.5,
            }],
            Some((5.0, 1.0)),
        );
        assert_eq!(s.option()["series"][0]["markLine"]["data"][0]["xAxis"], 5.0);
        let g = gauge("错误率", "今日", 1.234, 10.0, "%");
        assert_eq!(g.option()["series"][0]["data"][0]["value"], 1.23);
        let l = line(
            "每小时",
            &cats,
            &[Series::new("A", [1, 2]), Series::new("B", [0, 4])],
        );
        assert!(l.option()["legend"].is_object());
    }
}
