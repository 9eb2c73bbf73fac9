//! Error codes this crate answers with (code, HTTP status, zh-CN message); served at
//! `/api/docs/errors`. A test checks every code used in the source is listed here.

use yiyang_platform::module::ErrorCode;

use yiyang_platform::module::error_code as e;

pub const ERROR_CODES: &[ErrorCode] = &[
    e(
        "config.invalid",
        400,
        "配置项 integration.hl7_lanes 与 integration.hl7_run 至少为 1",
    ),
    e("critical.route_number", 400, "机构、步骤和延迟须为数字"),
    e("hl7.adt", 400, "ADT 消息不正确：…"),
    e("hl7.appt_missing", 400, "缺少预约号（SCH-1/SCH-2）"),
    e("hl7.birth_invalid", 400, "PID-7 出生日期格式不正确：…"),
    e("hl7.charset", 400, "字符集解码失败：…"),
    e(
        "hl7.encounter_not_found",
        400,
        "未找到就诊号 … 的在院记录（PV1-19）",
    ),
    e("hl7.header", 400, "MSH 段不正确：…"),
    e(
        "hl7.identifier_missing",
        400,
        "PID-3 缺少院内患者标识（如病案号）",
    ),
    e("hl7.merge_prior", 400, "未找到被合并的患者（MRG-1：…）"),
    e("hl7.merge_survivor", 400, "未找到保留的患者（PID-3：…）"),
    e("hl7.mrg_missing", 400, "A40 消息缺少 MRG 段"),
    e("hl7.name_missing", 400, "PID-5 缺少患者姓名"),
    e(
        "hl7.not_replayable",
        409,
        "只有处理失败或被拒收的消息可以重放",
    ),
    e("hl7.obx_value", 400, "OBX-5 结果值不正确（OBX …）：…"),
    e("hl7.orc_missing", 400, "申请消息缺少 ORC 段"),
    e("hl7.orders", 400, "医嘱/申请消息不正确：…"),
    e("hl7.original_pending", 503, "原消息仍在处理中，请稍后重发"),
    e("hl7.oru", 400, "ORU 消息不正确：…"),
    e("hl7.parse", 400, "消息无法解析：…"),
    e("hl7.pid_missing", 400, "ORU 消息缺少 PID 段"),
    e("hl7.placer_missing", 400, "缺少申请单号（ORC-2/OBR-2）"),
    e("hl7.processing_pending", 503, "消息已存储，处理尚未完成"),
    e("hl7.replay_failed", 400, "重放后仍未成功：…"),
    e("hl7.siu", 400, "预约消息不正确：…"),
    e("hl7.stopping", 503, "服务正在停止"),
    e("hl7.visit_missing", 400, "缺少就诊号（PV1-19）"),
    e(
        "integration.ack_mode_invalid",
        400,
        "应答方式须为 commit（存储后应答）或 application（处理后应答）",
    ),
    e("integration.alert_closed", 409, "该危急值已确认"),
    e(
        "integration.channel_in_use",
        409,
        "该通道已接收 … 条消息，不能删除，请改为停用",
    ),
    e("integration.date_invalid", 400, "日期格式应为 YYYY-MM-DD"),
    e("integration.delivery_not_dead", 409, "只有死信可以重新投递"),
    e(
        "integration.delivery_status_invalid",
        400,
        "状态只能是 pending、delivered 或 dead",
    ),
    e(
        "integration.list_invalid",
        400,
        "…名称不正确：…（不超过64字，不含 | ^ ~ \\\\ &）",
    ),
    e(
        "integration.max_conn_invalid",
        400,
        "最大连接数须在 1–256 之间",
    ),
    e(
        "integration.name_invalid",
        400,
        "请填写通道名称（不超过50字）",
    ),
    e("integration.name_taken", 400, "通道名称“…”已存在"),
    e("integration.org_invalid", 400, "所属机构不存在"),
    e(
        "integration.port_invalid",
        400,
        "监听端口须在 1024–65535 之间",
    ),
    e("integration.port_taken", 400, "端口 … 已被通道“…”使用"),
    e(
        "integration.sub_attempts_invalid",
        400,
        "最大尝试次数须在 1–50 之间",
    ),
    e(
        "integration.sub_disabled",
        409,
        "订阅已停用，请先启用再发送测试事件",
    ),
    e("integration.sub_event_unknown", 400, "未知的事件类型：…"),
    e(
        "integration.sub_events_required",
        400,
        "请至少选择一种订阅的事件",
    ),
    e(
        "integration.sub_host_invalid",
        400,
        "请填写正确的目标主机（域名或 IP 地址）",
    ),
    e(
        "integration.sub_kind_fixed",
        400,
        "投递方式创建后不能修改；如需更换，请新建订阅并停用本订阅",
    ),
    e(
        "integration.sub_kind_invalid",
        400,
        "请选择投递方式：HL7 v2 / MLLP 或 JSON Webhook",
    ),
    e(
        "integration.sub_name_invalid",
        400,
        "请填写订阅名称（不超过50字）",
    ),
    e("integration.sub_name_taken", 400, "本机构已有名为“…”的订阅"),
    e(
        "integration.sub_org_fixed",
        400,
        "所属机构创建后不能修改；如需更换，请在该机构下新建订阅",
    ),
    e(
        "integration.sub_port_invalid",
        400,
        "目标端口须在 1–65535 之间",
    ),
    e(
        "integration.sub_secret_invalid",
        400,
        "签名密钥须为 16–200 个字符，并与接收方配置一致",
    ),
    e(
        "integration.sub_timeout_invalid",
        400,
        "超时须在 1–120 秒之间",
    ),
    e(
        "integration.sub_url_invalid",
        400,
        "请填写接收地址，如 http://his.example.local/hooks/yiyang",
    ),
    e(
        "integration.timeout_invalid",
        400,
        "读超时须在 5–3600 秒之间",
    ),
    e(
        "integration.tls_file_required",
        400,
        "启用 TLS 须填写…文件路径（PEM）",
    ),
    e("integration.tls_invalid", 400, "无法读取…文件 …：…"),
    e(
        "integration.tls_mode_invalid",
        400,
        "加密方式须为 off、tls 或 mtls",
    ),
    e(
        "integration.type_invalid",
        400,
        "消息类型格式不正确：…（应如 ADT^A01、ORU^R01 或 ADT^*）",
    ),
    e(
        "integration.types_required",
        400,
        "请至少填写一种接收的消息类型，如 ADT^A01",
    ),
];
