//! Codes of the IoT module and their Chinese labels.

/// Device kinds (设备类别).
pub const KINDS: &[(&str, &str)] = &[
    ("band", "智能手环"),
    ("gps_band", "定位手环（居家）"),
    ("gateway", "蓝牙网关"),
    ("nfc_reader", "NFC读写器"),
    ("nfc_tag", "NFC标签"),
    ("mattress", "智能床垫"),
    ("glucometer", "智能血糖仪"),
    ("bp_cuff", "智能血压计"),
    ("wheelchair", "智能轮椅"),
    ("cane", "智能拐杖"),
];

/// Device states.
pub const STATUSES: &[(&str, &str)] = &[
    ("active", "在用"),
    ("stock", "库存"),
    ("repair", "维修中"),
    ("retired", "已报废"),
];

/// How a device came to the institution.
pub const ACQUISITIONS: &[(&str, &str)] = &[("purchase", "采购"), ("rental", "租赁")];

/// Health filters of the device list.
pub const HEALTH: &[(&str, &str)] = &[
    ("offline", "离线"),
    ("low_battery", "电量低"),
    ("calibration_due", "待校准"),
    ("unbound", "未绑定"),
];

/// Alarm priorities (IEC 60601-1-8).
pub const PRIORITIES: &[(&str, &str)] = &[("high", "高"), ("medium", "中"), ("low", "低")];

/// Alarm states.
pub const ALARM_STATUSES: &[(&str, &str)] = &[
    ("raised", "未确认"),
    ("acknowledged", "已确认"),
    ("resolved", "已解除"),
];

/// Alarm kinds.
pub const ALARM_KINDS: &[(&str, &str)] = &[
    ("vital", "体征异常"),
    ("score", "早期预警评分"),
    ("sos", "SOS呼救"),
    ("fall", "跌倒"),
    ("removed", "手环摘除"),
    ("offline", "设备离线"),
    ("low_battery", "电量低"),
    ("accuracy", "测量误差超范围"),
    ("zone", "区域越界"),
    ("geofence", "离开安全区域"),
];

/// Work-order kinds of maintenance.
pub const WORK_KINDS: &[(&str, &str)] = &[
    ("cleaning", "清洁"),
    ("calibration", "校准"),
    ("inspection", "性能检测"),
    ("repair", "维修"),
];

/// Work-order states.
pub const WORK_STATUSES: &[(&str, &str)] = &[
    ("open", "待处理"),
    ("done", "已完成"),
    ("cancelled", "已取消"),
];

/// Firmware campaign states.
pub const CAMPAIGN_STATUSES: &[(&str, &str)] = &[
    ("draft", "草稿"),
    ("running", "升级中"),
    ("paused", "已暂停（失败率超限）"),
    ("done", "已完成"),
    ("cancelled", "已取消"),
];

/// Firmware target states.
pub const TARGET_STATUSES: &[(&str, &str)] = &[
    ("pending", "待下发"),
    ("sent", "已下发"),
    ("ok", "升级成功"),
    ("failed", "升级失败"),
    ("skipped", "未执行"),
];

/// The label of `code` in `table`, or the code itself.
pub fn label<'a>(table: &'a [(&'a str, &'a str)], code: &'a str) -> &'a str {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .unwrap_or(code)
}

/// The code whose code or label is `v`.
pub fn code_of(table: &[(&'static str, &'static str)], v: &str) -> Option<&'static str> {
    let v = v.trim();
    table
        .iter()
        .find(|(c, l)| *c == v || *l == v)
        .map(|(c, _)| *c)
}
