//! Password hashing (Argon2id) and the password policy.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use yiyang_core::{AppError, AppResult};

pub fn hash(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to compare against when the login does not exist, so timing does not reveal it.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash("dummy-password-Aa1!").expect("hash"))
}

/// At least 10 characters, three of four character classes, not containing the login.
pub fn check_policy(password: &str, login: &str) -> AppResult<()> {
    let err = |m: &str| {
        Err(AppError::field(
            "auth.password_weak",
            "password",
            m.to_string(),
        ))
    };
    if password.chars().count() < 10 {
        return err("密码至少10位");
    }
    if password.chars().count() > 128 {
        return err("密码不能超过128位");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|x| **x).count() < 3 {
        return err("密码须包含大写字母、小写字母、数字、符号中的至少三类");
    }
    if !login.is_empty() && password.to_lowercase().contains(&login.to_lowercase()) {
        return err("密码不能包含登录名");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_same_password() {
        let h = hash("Meizhou#2026").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Meizhou#2026", &h));
        assert!(!verify("Meizhou#2027", &h));
    }

    #[test]
    fn policy_rejects_short_simple_and_login_containing_passwords() {
        assert!(check_policy("Ab1!", "x").is_err());
        assert!(check_policy("abcdefghijkl", "x").is_err());
        assert!(check_policy("Zhangsan#2026", "zhangsan").is_err());
        assert!(check_policy("Meizhou#2026", "zhangsan").is_ok());
    }
}
