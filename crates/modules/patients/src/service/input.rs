//! What a registration brings (`PersonInput`) and its validation into a `ValidPerson`.

use super::{ID_TYPES, LIVING};
use crate::matching::MatchFields;
use serde::{Deserialize, Serialize};
use yiyang_core::idnumber::{self, Sex};
use yiyang_core::{AppError, AppResult};

/// A source identifier as an institution assigns it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentifierInput {
    pub id_type: String,
    pub value: String,
}

/// A person as registered by an institution (form, import, API, HL7, FHIR).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonInput {
    /// The registering institution (its scope must cover it).
    pub org_id: i64,
    pub name: String,
    /// M / F / 男 / 女
    #[serde(default)]
    pub sex: String,
    /// YYYY-MM-DD
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub insurance_no: String,
    #[serde(default)]
    pub social_card_no: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub phone2: String,
    #[serde(default)]
    pub district: String,
    #[serde(default)]
    pub town: String,
    #[serde(default)]
    pub village: String,
    #[serde(default)]
    pub address_detail: String,
    #[serde(default)]
    pub living_situation: String,
    #[serde(default)]
    pub identifiers: Vec<IdentifierInput>,
}

/// A validated registration.
#[derive(Debug, Clone)]
pub struct ValidPerson {
    pub input: PersonInput,
    pub id_number: Option<String>,
    pub warnings: Vec<String>,
}

pub(super) fn norm_phone(field: &str, v: &str) -> AppResult<String> {
    let mut d: String = v
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    if let Some(x) = d.strip_prefix("+86") {
        d = x.to_string();
    }
    if d.is_empty() || (d.chars().all(|c| c.is_ascii_digit()) && (7..=12).contains(&d.len())) {
        Ok(d)
    } else {
        Err(AppError::field(
            "person.phone_invalid",
            field,
            format!("电话号码格式不正确：{v}"),
        ))
    }
}

impl PersonInput {
    /// Length and character limits of every text field, all reported at once.
    fn text_checks(&self) -> yiyang_core::text::Checks {
        use yiyang_core::text::{Checks, Kind};
        let mut c = Checks::new();
        c.text("name", "姓名", &self.name, 50, Kind::Name)
            .text("id_number", "身份证号", &self.id_number, 32, Kind::Line)
            .text("insurance_no", "医保号", &self.insurance_no, 64, Kind::Line)
            .text(
                "social_card_no",
                "社保卡号",
                &self.social_card_no,
                64,
                Kind::Line,
            )
            .text("phone", "手机号", &self.phone, 32, Kind::Line)
            .text("phone2", "备用电话", &self.phone2, 32, Kind::Line)
            .text("district", "区县", &self.district, 32, Kind::Line)
            .text("town", "乡镇（街道）", &self.town, 50, Kind::Line)
            .text("village", "村（社区）", &self.village, 50, Kind::Line)
            .text(
                "address_detail",
                "详细地址",
                &self.address_detail,
                200,
                Kind::Line,
            );
        for i in &self.identifiers {
            c.text("identifiers", "院内标识", &i.value, 64, Kind::Line);
        }
        c
    }

    /// Checks every field; every problem of the record is reported at once (a single
    /// problem keeps its own code).
    pub fn validate(mut self, today: chrono::NaiveDate) -> AppResult<ValidPerson> {
        let mut c = self.text_checks();
        self.name = self.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if self.name.is_empty() {
            c.result::<()>(Err(AppError::field(
                "person.name_invalid",
                "name",
                "请填写姓名（不超过50字）",
            )));
        }
        let sex = if self.sex.trim().is_empty() {
            None
        } else {
            c.result(Sex::from_code(&self.sex).ok_or_else(|| {
                AppError::field("person.sex_invalid", "sex", "性别须为 男/女（M/F）")
            }))
        };
        let mut warnings = Vec::new();
        let mut id_number = None;
        if !self.id_number.trim().is_empty()
            && let Some((id, w)) = c.result(idnumber::parse(&self.id_number, today, sex))
        {
            warnings.extend(w.iter().map(|x| x.message()));
            if self.birth_date.trim().is_empty() {
                self.birth_date = id.birth_date.format("%Y-%m-%d").to_string();
            }
            if sex.is_none() {
                self.sex = id.sex.code().into();
            }
            id_number = Some(id.as_str().to_string());
        }
        if let Some(s) = sex {
            self.sex = s.code().into();
        }
        if !self.birth_date.trim().is_empty() {
            let parsed = chrono::NaiveDate::parse_from_str(self.birth_date.trim(), "%Y-%m-%d")
                .or_else(|_| chrono::NaiveDate::parse_from_str(self.birth_date.trim(), "%Y%m%d"))
                .map_err(|_| {
                    AppError::field(
                        "person.birth_invalid",
                        "birth_date",
                        "出生日期格式应为 YYYY-MM-DD",
                    )
                })
                .and_then(|d| {
                    if d > today || d < chrono::NaiveDate::from_ymd_opt(1890, 1, 1).expect("date") {
                        Err(AppError::field(
                            "person.birth_invalid",
                            "birth_date",
                            "出生日期超出合理范围",
                        ))
                    } else {
                        Ok(d)
                    }
                });
            if let Some(d) = c.result(parsed) {
                self.birth_date = d.format("%Y-%m-%d").to_string();
            }
        }
        if let Some(p) = c.result(norm_phone("phone", &self.phone)) {
            self.phone = p;
        }
        if let Some(p) = c.result(norm_phone("phone2", &self.phone2)) {
            self.phone2 = p;
        }
        if !self.living_situation.is_empty() {
            let found = LIVING
                .iter()
                .find(|(code, l)| *code == self.living_situation || *l == self.living_situation)
                .map(|(code, _)| code.to_string())
                .ok_or_else(|| {
                    AppError::field(
                        "person.living_invalid",
                        "living_situation",
                        "居住状况不正确",
                    )
                });
            if let Some(v) = c.result(found) {
                self.living_situation = v;
            }
        }
        for i in &mut self.identifiers {
            i.value = i.value.trim().to_string();
            i.id_type = i.id_type.trim().to_uppercase();
            if i.value.is_empty() || i.value.len() > 64 {
                c.result::<()>(Err(AppError::field(
                    "person.identifier_invalid",
                    "identifiers",
                    "院内标识不能为空且不超过64位",
                )));
            } else if !ID_TYPES.iter().any(|(code, _)| *code == i.id_type) {
                c.result::<()>(Err(AppError::field(
                    "person.identifier_type",
                    "identifiers",
                    format!("标识类型不正确：{}", i.id_type),
                )));
            }
        }
        c.finish()?;
        Ok(ValidPerson {
            input: self,
            id_number,
            warnings,
        })
    }

    pub(super) fn fields(&self, id_number: Option<&str>) -> MatchFields {
        MatchFields {
            name: self.name.clone(),
            sex: self.sex.clone(),
            birth_date: self.birth_date.clone(),
            id_number: id_number.unwrap_or("").to_string(),
            phone: self.phone.clone(),
            district: self.district.clone(),
            town: self.town.clone(),
            address_detail: format!("{}{}", self.village, self.address_detail),
            insurance_no: self.insurance_no.clone(),
        }
    }
}
