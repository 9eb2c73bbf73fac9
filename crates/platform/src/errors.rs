//! Error codes this crate answers with (code, HTTP status, zh-CN message); served at
//! `/api/docs/errors`. A test checks every code used in the source is listed here.

use crate::module::ErrorCode;

const fn e(code: &'static str, status: u16, message: &'static str) -> ErrorCode {
    ErrorCode {
        code,
        status,
        message,
    }
}

pub const ERROR_CODES: &[ErrorCode] = &[
    e("account.kind_invalid", 400, "账号类型不存在"),
    e(
        "account.login_invalid",
        400,
        "登录名须为3-40位字母、数字或 _ . -",
    ),
    e("account.login_taken", 409, "登录名已被使用"),
    e("account.name_required", 400, "请填写姓名"),
    e("account.org_required", 400, "该角色须指定所属机构"),
    e("account.role_exists", 409, "该账号已拥有此角色"),
    e("account.role_missing", 400, "角色不存在"),
    e("account.self", 400, "不能停用或解锁自己的账号"),
    e("account.status_invalid", 400, "账号状态不正确"),
    e("audit.chain_broken", 409, "哈希链在第 … 条记录处断裂：…"),
    e(
        "auth.csrf",
        403,
        "页面已过期或请求来源不可信，请刷新页面后重试",
    ),
    e("auth.disabled", 403, "账号已停用，请联系管理员"),
    e("auth.forbidden", 403, "您没有执行此操作的权限"),
    e("auth.invalid_credentials", 401, "用户名或密码错误"),
    e(
        "auth.locked",
        423,
        "连续登录失败次数过多，账号已锁定，请…分钟后再试",
    ),
    e("auth.old_password_wrong", 400, "原密码不正确"),
    e("auth.password_mismatch", 400, "两次输入的新密码不一致"),
    e("auth.password_reused", 400, "新密码不能与原密码相同"),
    e("auth.password_weak", 400, "密码至少10位"),
    e("auth.unauthenticated", 401, "请先登录"),
    e("client.name_required", 400, "请填写客户端名称"),
    e("client.scope_invalid", 400, "不允许的授权范围：…"),
    e("client.scope_required", 400, "请至少选择一个授权范围"),
    e("common.busy", 503, "系统繁忙，请稍后重试"),
    e("common.duplicate", 409, "记录已存在（与现有数据重复）"),
    e("common.internal", 500, "系统内部错误，请稍后重试"),
    e("common.not_found", 404, "记录不存在或无权访问"),
    e("common.reference", 409, "关联的记录不存在或仍被引用"),
    e(
        "config.key_invalid",
        400,
        "密钥须为32字节（64位十六进制或Base64）",
    ),
    e("config.key_missing", 400, "至少需要配置一个数据加密密钥"),
    e("idnumber.invalid", 400, "身份证号码不正确"),
    e("jobs.cron_invalid", 400, "Cron 表达式无效：…"),
    e("jobs.not_dead", 409, "只有已失败（死信）的任务可以重试"),
    e("masking.algorithm_missing", 400, "脱敏算法不存在"),
    e(
        "masking.code_invalid",
        400,
        "算法编码须为1-40位字母、数字或下划线",
    ),
    e("masking.field_kind_invalid", 400, "字段类型不存在"),
    e("masking.keep_invalid", 400, "保留位数须在0到32之间"),
    e("masking.kind_invalid", 400, "算法类型不存在"),
    e("masking.name_required", 400, "请填写算法名称"),
    e("masking.role_missing", 400, "角色不存在"),
    e("masking.role_required", 400, "请选择角色（* 表示默认）"),
    e("oauth.invalid_client", 401, "客户端认证失败"),
    e("oauth.invalid_scope", 400, "未授权的范围：…"),
    e("oauth.invalid_token", 401, "访问令牌无效或已过期"),
    e("org.code_invalid", 400, "机构编码格式不正确"),
    e("privacy.purpose_required", 400, "查看明文信息须填写用途"),
    e(
        "role.code_invalid",
        400,
        "角色编码须为1-40位小写字母、数字或下划线",
    ),
    e("role.name_required", 400, "请填写角色名称"),
    e("role.permission_unknown", 400, "未知权限：…"),
    e("store.connect", 503, "无法连接 PostgreSQL 数据库：…"),
    e("store.url", 400, "数据库地址无效：…"),
];
