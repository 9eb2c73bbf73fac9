//! Error codes this crate answers with (code, HTTP status, zh-CN message); served at
//! `/api/docs/errors`. A test checks every code used in the source is listed here.

use yiyang_platform::module::ErrorCode;

use yiyang_platform::module::error_code as e;

pub const ERROR_CODES: &[ErrorCode] = &[
    e("cli.login_missing", 400, "账号不存在：…"),
    e("cli.org_missing", 400, "机构编码不存在：…"),
    e("cli.password_empty", 400, "标准输入中没有密码"),
    e(
        "config.keys",
        400,
        "须同时配置 data_keys、blind_key、token_key、mask_key 四个密钥",
    ),
    e("config.listen", 400, "监听地址无效：…"),
    e("config.parse", 400, "配置文件格式错误：…"),
    e("config.read", 400, "无法读取配置文件 …：…"),
    e(
        "config.tls",
        400,
        "启用 HTTPS 须同时配置证书（tls_cert）和私钥（tls_key）",
    ),
    e("mpi.config", 400, "无法读取配置 …：…"),
    e("mpi.failed", 400, "匹配失败：…"),
    e("mpi.file", 400, "无法打开 …：…"),
    e("mpi.out", 400, "无法写入 …：…"),
    e("server.bind", 500, "无法监听 …：…"),
];
