//! Chinese labels for codes people see: audit actions, resource types, outcomes, roles,
//! job kinds and states. Codes stay in the database and the API; screens and exports show
//! these. An unknown code is shown as it is (never hidden).

/// Audit actions (`audit_log.action`).
const ACTIONS: &[(&str, &str)] = &[
    ("account.create", "新建账号"),
    ("account.grant_role", "授予角色"),
    ("account.revoke_role", "撤销角色"),
    ("account.reset_password", "重置密码"),
    ("account.status", "启用/停用账号"),
    ("audit.search", "查询审计日志"),
    ("auth.login", "登录"),
    ("auth.logout", "退出登录"),
    ("auth.change_password", "修改密码"),
    ("client.register", "注册接入客户端"),
    ("client.revoke", "吊销接入客户端"),
    ("dept.create", "新增科室"),
    ("dept.update", "修改科室"),
    ("dept.disable", "停用科室"),
    ("dept.enable", "启用科室"),
    ("export.xlsx", "导出 Excel"),
    ("hl7_message.read", "查看 HL7 消息"),
    ("hl7_message.read_unmasked", "查看 HL7 消息明文"),
    ("integration.alert_ack", "确认危急值"),
    ("integration.appointments_read", "查看预约挂号"),
    ("integration.channel_create", "新建接入通道"),
    ("integration.channel_delete", "删除接入通道"),
    ("integration.channel_update", "修改接入通道"),
    ("integration.critical_alert", "危急值提醒"),
    ("integration.critical_route_add", "新增危急值通知规则"),
    ("integration.critical_route_delete", "删除危急值通知规则"),
    ("integration.delivery_read", "查看投递内容"),
    ("integration.delivery_read_unmasked", "查看投递明文"),
    ("integration.delivery_retry", "重试投递"),
    ("integration.delivery_retry_dead", "重试全部死信"),
    ("integration.orders_read", "查看申请单"),
    ("integration.replay", "重新处理消息"),
    ("integration.subscription_create", "新建订阅"),
    ("integration.subscription_disable", "停用订阅"),
    ("integration.subscription_enable", "启用订阅"),
    ("integration.subscription_test", "测试订阅"),
    ("integration.subscription_update", "修改订阅"),
    ("jobs.retry", "重试后台任务"),
    ("jobs.trigger", "立即执行定时任务"),
    ("masking.algorithm.save", "保存脱敏算法"),
    ("masking.rule.save", "保存脱敏规则"),
    ("mpi.config_activate", "启用匹配配置"),
    ("mpi.config_save", "保存匹配配置"),
    ("mpi.train", "训练匹配模型"),
    ("org.create", "录入机构"),
    ("org.update", "修改机构"),
    ("org.submit", "提交机构审核"),
    ("org.review", "审核机构"),
    ("person.contact_add", "添加联系人"),
    ("person.create", "登记居民"),
    ("person.link", "关联居民"),
    ("person.merge", "合并居民"),
    ("person.read", "查看居民档案"),
    ("person.read_unmasked", "查看居民明文"),
    ("person.review_distinct", "判定非同一人"),
    ("person.search", "查询居民"),
    ("encounter.list", "查看就诊与住院列表"),
    ("person.unmerge", "撤销合并"),
    ("person.update", "修改居民信息"),
    ("record.allergy_add", "添加过敏史"),
    ("record.condition_add", "添加诊断"),
    ("record.document_add", "上传文档"),
    ("record.document_read", "查看文档"),
    ("record.encounter_add", "添加就诊"),
    ("record.medication_add", "添加用药"),
    ("record.observation_add", "添加检查结果"),
    ("record.read", "查看健康档案"),
    ("integration.alerts_read", "查看危急值列表"),
    ("role.save", "保存角色"),
    ("staff.create", "录入人员"),
    ("staff.delete", "人员移入回收站"),
    ("staff.list", "查询人员"),
    ("staff.list_unmasked", "查询人员明文"),
    ("staff.read", "查看人员"),
    ("staff.read_unmasked", "查看人员明文"),
    ("staff.restore", "恢复人员"),
    ("staff.submit", "提交人员审核"),
    ("staff.review", "审核人员"),
];

/// Resource types (`audit_log.resource_type`).
const RESOURCES: &[(&str, &str)] = &[
    ("account", "账号"),
    ("audit_log", "审计日志"),
    ("client", "接入客户端"),
    ("department", "科室"),
    ("dept", "科室"),
    ("org", "机构"),
    ("orgs", "机构"),
    ("person", "居民"),
    ("role", "角色"),
    ("session", "会话"),
    ("staff", "人员"),
    ("job", "后台任务"),
    ("masking_rule", "脱敏规则"),
    ("masking_algorithm", "脱敏算法"),
    ("mpi_config", "匹配配置"),
    ("mpi_review", "疑似重复"),
    ("channel", "接入通道"),
    ("hl7_message", "HL7 消息"),
    ("critical_alert", "危急值"),
    ("subscription", "订阅"),
    ("delivery", "投递"),
    ("document", "文档"),
    ("encounter", "就诊"),
    ("hl7_channel", "接入通道"),
    ("mask_algorithm", "脱敏算法"),
    ("mask_rule", "脱敏规则"),
    ("oauth_client", "接口客户端"),
    ("orders", "检查检验申请单"),
    ("appointments", "预约挂号"),
    ("critical_route", "危急值通知规则"),
    ("api", "接口文档"),
];

/// Built-in roles (`roles.code`).
const ROLES: &[(&str, &str)] = &[
    ("platform_admin", "平台管理员"),
    ("data_reviewer", "数据审核员"),
    ("security_auditor", "安全审计员"),
    ("insurance_auditor", "医保审核员"),
    ("org_admin", "机构管理员"),
    ("doctor", "医生"),
    ("nurse", "护士"),
    ("pharmacist", "药师"),
    ("caregiver", "护理员"),
    ("elder", "居民"),
    ("family", "家属"),
];

/// Job states.
const JOB_STATES: &[(&str, &str)] = &[
    ("queued", "排队中"),
    ("running", "执行中"),
    ("done", "已完成"),
    ("dead", "已失败"),
];

/// Labels the modules register (their audit actions and resources).
static REGISTERED: std::sync::RwLock<Vec<(&'static str, &'static str)>> =
    std::sync::RwLock::new(Vec::new());

/// Adds labels of audit actions and resources (a code already known keeps its label).
pub fn register(labels: &[(&'static str, &'static str)]) {
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    for (c, l) in labels {
        if !all.iter().any(|(x, _)| x == c) {
            all.push((c, l));
        }
    }
}

fn find<'a>(table: &[(&str, &'a str)], code: &str) -> Option<&'a str> {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .or_else(|| {
            REGISTERED
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, l)| *l)
        })
}

fn or_code(table: &[(&str, &str)], code: &str) -> String {
    find(table, code).map_or_else(|| code.to_string(), str::to_string)
}

pub fn action(code: &str) -> String {
    or_code(ACTIONS, code)
}

pub fn resource(code: &str) -> String {
    or_code(RESOURCES, code)
}

/// A role code, or several joined by commas (`audit_log.role`).
pub fn role(code: &str) -> String {
    code.split(',')
        .map(|c| or_code(ROLES, c.trim()))
        .collect::<Vec<_>>()
        .join("、")
}

pub fn outcome(code: &str) -> String {
    match code {
        "success" => "成功".into(),
        "failure" => "失败".into(),
        "denied" => "拒绝".into(),
        "not_found" => "未找到".into(),
        other => other.into(),
    }
}

pub fn job_state(code: &str) -> String {
    or_code(JOB_STATES, code)
}

/// Observation interpretation flags (HL7 table 0078) as a person says them.
pub fn flag(code: &str) -> String {
    match code {
        "" | "N" => String::new(),
        "H" => "偏高".into(),
        "L" => "偏低".into(),
        "HH" | "HU" => "危急偏高".into(),
        "LL" | "LU" => "危急偏低".into(),
        "A" => "异常".into(),
        "AA" => "危急异常".into(),
        other => other.into(),
    }
}

/// UCUM units as people write them (mm[Hg] → mmHg, Cel → ℃, /min and 1/min → 次/分,
/// 10*9/L → ×10⁹/L). Curly-brace annotations (`{beats}/min`) carry no meaning of their own
/// and are dropped; units people already write as UCUM does (`mmol/L`, `kg`, `cm`, `%`)
/// stay as they are.
pub fn unit(ucum: &str) -> String {
    let u = ucum.trim();
    if let Some(l) = unit_label(u) {
        return l.to_string();
    }
    if u.contains('{') {
        let mut plain = String::with_capacity(u.len());
        let mut depth = 0u32;
        for c in u.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                c if depth == 0 => plain.push(c),
                _ => {}
            }
        }
        return match plain.as_str() {
            // Only an annotation (`{score}`, `{copies}`): a count of something.
            "" => match u {
                "{score}" => "分".into(),
                _ => String::new(),
            },
            p => unit_label(p).map(str::to_string).unwrap_or(plain),
        };
    }
    u.to_string()
}

fn unit_label(u: &str) -> Option<&'static str> {
    Some(match u {
        "mm[Hg]" => "mmHg",
        "cm[H2O]" => "cmH₂O",
        "Cel" => "℃",
        "[degF]" => "℉",
        "/min" | "1/min" => "次/分",
        "/h" | "1/h" => "次/时",
        "/d" | "1/d" => "次/日",
        "10*9/L" => "×10⁹/L",
        "10*12/L" => "×10¹²/L",
        "10*3/uL" => "×10³/μL",
        "10*6/uL" => "×10⁶/μL",
        "umol/L" => "μmol/L",
        "ug" => "μg",
        "ug/L" => "μg/L",
        "ug/dL" => "μg/dL",
        "uL" => "μL",
        "/uL" => "/μL",
        "uU/mL" | "u[IU]/mL" => "μIU/mL",
        "[iU]/L" | "[IU]/L" => "IU/L",
        "m[iU]/L" | "m[IU]/L" => "mIU/L",
        "kg/m2" => "kg/m²",
        "m2" => "m²",
        "mL/min/{1.73_m2}" | "mL/min/1.73m2" => "mL/min/1.73m²",
        "[in_i]" => "英寸",
        "[lb_av]" => "磅",
        "s" => "秒",
        "min" => "分钟",
        "h" => "小时",
        "d" => "天",
        "wk" => "周",
        "mo" => "月",
        "a" => "年",
        "1" => "",
        _ => return None,
    })
}

/// Allergy severity.
pub fn severity(code: &str) -> String {
    match code {
        "mild" => "轻度".into(),
        "moderate" => "中度".into(),
        "severe" => "重度".into(),
        other => other.into(),
    }
}

/// Audit actions as (code, label), for a filter's choices.
pub fn actions() -> &'static [(&'static str, &'static str)] {
    ACTIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_chinese_and_unknown_ones_stay_visible() {
        assert_eq!(action("staff.read_unmasked"), "查看人员明文");
        assert_eq!(action("hl7_message.read"), "查看 HL7 消息");
        assert_eq!(role("doctor,nurse"), "医生、护士");
        assert_eq!(outcome("success"), "成功");
        assert_eq!(action("new.thing"), "new.thing");
        assert_eq!(unit("mm[Hg]"), "mmHg");
        assert_eq!(unit("Cel"), "℃");
        assert_eq!(unit("/min"), "次/分");
        assert_eq!(flag("HH"), "危急偏高");
        assert_eq!(flag("L"), "偏低");
        assert_eq!(severity("severe"), "重度");
    }

    #[test]
    fn units_read_as_people_write_them() {
        for (ucum, shown) in [
            ("/min", "次/分"),
            ("1/min", "次/分"),
            ("{beats}/min", "次/分"),
            ("{beat}/min", "次/分"),
            ("{breaths}/min", "次/分"),
            ("mm[Hg]", "mmHg"),
            ("Cel", "℃"),
            ("10*9/L", "×10⁹/L"),
            ("umol/L", "μmol/L"),
            ("kg/m2", "kg/m²"),
            ("mL/min/{1.73_m2}", "mL/min/1.73m²"),
            ("{score}", "分"),
            ("1", ""),
            // Already as people write them.
            ("%", "%"),
            ("mmol/L", "mmol/L"),
            ("kg", "kg"),
            ("cm", "cm"),
            ("g/L", "g/L"),
            ("{cells}/uL", "/μL"),
        ] {
            assert_eq!(unit(ucum), shown, "{ucum}");
        }
    }
}
