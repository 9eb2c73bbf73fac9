//! Error codes this crate answers with (code, HTTP status, zh-CN message); served at
//! `/api/docs/errors`. A test checks every code used in the source is listed here.

use yiyang_platform::module::ErrorCode;
use yiyang_platform::module::error_code as e;

pub const ERROR_CODES: &[ErrorCode] = &[
    e("iot.not_bound", 400, "该设备当前未绑定"),
    e("iot.alarm_state", 409, "告警当前状态不能执行此操作"),
    e("iot.campaign_state", 409, "升级任务当前状态不能执行此操作"),
    e("iot.org_unknown", 400, "机构编码不存在：…"),
    e("iot.models_missing", 400, "请先生成演示数据（型号目录）"),
    e(
        "iot.device_auth",
        401,
        "设备凭据无效（请检查 X-Device-Serial 与 Bearer 密钥）",
    ),
    e("iot.rules_invalid", 400, "预警规则有误：…"),
];
