//! Error codes this crate answers with (code, HTTP status, zh-CN message); served at
//! `/api/docs/errors`. A test checks every code used in the source is listed here.

use yiyang_platform::module::ErrorCode;

use yiyang_platform::module::error_code as e;

pub const ERROR_CODES: &[ErrorCode] = &[
    e(
        "common.date_invalid",
        400,
        "日期格式不正确：…（应为 YYYY-MM-DD）",
    ),
    e("common.phone_invalid", 400, "电话号码格式不正确"),
    e("dept.code_invalid", 400, "科室编码须为1-32位字母、数字或 -"),
    e("dept.code_taken", 400, "本机构已有相同编码的科室"),
    e("dept.kind_invalid", 400, "科室类型不正确"),
    e("dept.name_required", 400, "请填写科室名称"),
    e("dept.status_invalid", 400, "科室状态须为启用或停用"),
    e("import.columns_missing", 400, "缺少必需的列：…"),
    e("import.csv_invalid", 400, "CSV 格式错误：…"),
    e("import.empty", 400, "文件为空"),
    e(
        "import.encoding",
        400,
        "CSV 文件须为 UTF-8 编码（可在 Excel 中另存为“CSV UTF-8”）",
    ),
    e("import.file_type", 400, "仅支持 .csv 或 .xlsx 文件"),
    e("import.no_file", 400, "请选择要导入的文件"),
    e("import.too_many_rows", 400, "单次最多导入 … 行"),
    e("import.upload", 400, "上传失败：…"),
    e("import.xlsx_empty", 400, "XLSX 文件没有工作表"),
    e("import.xlsx_invalid", 400, "无法读取 XLSX 文件：…"),
    e("org.beds_invalid", 400, "床位数须在0到100000之间"),
    e("org.code_immutable", 400, "机构编码创建后不可修改"),
    e("org.code_taken", 400, "机构编码已存在：…"),
    e("org.district_invalid", 400, "所属区县须为梅州市辖区县：…"),
    e("org.kind_invalid", 400, "机构类型不正确：…"),
    e("org.name_invalid", 400, "请填写机构名称（不超过100字）"),
    e("review.note_required", 400, "退回时请填写审核意见"),
    e(
        "review.own_submission",
        403,
        "不能审核本人提交的记录，请由其他审核人员处理",
    ),
    e(
        "review.state",
        409,
        "当前状态不能执行此操作（可能已被他人处理）",
    ),
    e("staff.dept_missing", 400, "科室不属于该机构"),
    e("staff.duplicate", 400, "本机构已登记相同身份证号的人员"),
    e(
        "staff.licence_required",
        400,
        "医师、护士、药师须填写执业证书编号",
    ),
    e("staff.name_invalid", 400, "请填写姓名（不超过40字）"),
    e("staff.org_missing", 400, "所属机构不存在"),
    e("staff.profession_invalid", 400, "职业类别不正确：…"),
    e("staff.sex_invalid", 400, "性别须为 男/女（M/F）"),
];
