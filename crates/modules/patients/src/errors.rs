//! Error codes this crate answers with (code, HTTP status, zh-CN message); served at
//! `/api/docs/errors`. A test checks every code used in the source is listed here.

use yiyang_platform::module::ErrorCode;

use yiyang_platform::module::error_code as e;

pub const ERROR_CODES: &[ErrorCode] = &[
    e("contact.account_missing", 400, "居民账号不存在"),
    e("contact.required", 400, "请填写联系人姓名和关系"),
    e("mpi.already_merged", 409, "该记录已被合并，请先拆分"),
    e("mpi.cap_invalid", 400, "分块“…”的块大小上限须为正整数"),
    e("mpi.config_invalid", 400, "匹配配置无效：…"),
    e(
        "mpi.decision_invalid",
        400,
        "处理结果须为 merge 或 distinct",
    ),
    e("mpi.merge_cycle", 400, "合并会形成循环"),
    e("mpi.merge_id", 400, "请填写要合并的记录ID"),
    e("mpi.merge_self", 400, "不能将患者合并到自身"),
    e("mpi.no_config", 503, "没有启用的匹配配置"),
    e("mpi.not_merged", 409, "该记录未被合并"),
    e(
        "mpi.passes_required",
        400,
        "至少保留一个分块，否则找不到候选",
    ),
    e("mpi.review_decided", 409, "该疑似重复已处理"),
    e("mpi.threshold_invalid", 400, "…须为 0 到 1 之间的数"),
    e("mpi.threshold_order", 400, "审核阈值不能高于自动关联阈值"),
    e(
        "mpi.too_few",
        400,
        "登记人数不足（…人），至少50人才能训练模型",
    ),
    e("mpi.train_failed", 400, "训练失败：…"),
    e("mpi.version_invalid", 400, "请填写新版本号（不超过64字）"),
    e(
        "mpi.version_taken",
        400,
        "版本号 … 已存在，请在配置中修改 version",
    ),
    e("person.birth_invalid", 400, "出生日期格式应为 YYYY-MM-DD"),
    e(
        "person.identifier_invalid",
        400,
        "院内标识不能为空且不超过64位",
    ),
    e("person.identifier_type", 400, "标识类型不正确：…"),
    e("person.living_invalid", 400, "居住状况不正确"),
    e("person.name_invalid", 400, "请填写姓名（不超过50字）"),
    e("person.phone_invalid", 400, "电话号码格式不正确：…"),
    e("person.sex_invalid", 400, "性别须为 男/女（M/F）"),
    e("record.code_required", 400, "请填写检验/体征代码"),
    e("record.display_required", 400, "请填写诊断名称"),
    e("record.document_kind", 400, "文档类型不正确"),
    e("record.document_large", 400, "文件不能超过10MB"),
    e("record.document_required", 400, "请填写标题并选择文件"),
    e("record.encounter_closed", 409, "该次就诊已结束"),
    e("record.icd10_invalid", 400, "ICD-10 编码格式不正确：…"),
    e("record.kind_invalid", 400, "就诊类型不正确"),
    e("record.location_required", 400, "请填写转入病区/床位"),
    e(
        "record.med_kind",
        400,
        "用药类型须为 prescribed（处方）或 taken（服用记录）",
    ),
    e("record.med_name", 400, "请填写药品名称"),
    e("record.move_invalid", 400, "操作须为 transfer 或 discharge"),
    e(
        "record.severity_invalid",
        400,
        "严重程度须为 mild/moderate/severe",
    ),
    e(
        "record.status_invalid",
        400,
        "诊断状态须为 active/resolved/inactive",
    ),
    e("record.substance_required", 400, "请填写过敏物质"),
    e("record.time_invalid", 400, "时间格式不正确：…"),
    e("record.upload", 400, "上传失败：…"),
    e("record.value_invalid", 400, "请填写数值"),
    e("record.value_required", 400, "请填写结果值"),
];
