//! The two things both halves read out of ARNs.

/// The account ID in any ARN (`arn:partition:service:region:account:resource`).
pub fn account_from_arn(arn: &str) -> Option<&str> {
    let acct = arn.split(':').nth(4)?;
    (acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())).then_some(acct)
}

/// The session name at the end of `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
pub fn session_name_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":assumed-role/")?.1;
    let (_, name) = rest.rsplit_once('/')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert_eq!(
            session_name_from_arn("arn:aws:sts::111122223333:assumed-role/r/proj-123456.vm-1"),
            Some("proj-123456.vm-1")
        );
        assert_eq!(session_name_from_arn("arn:aws:iam::1:user/bob"), None);
        assert_eq!(
            account_from_arn("arn:aws:iam::111122223333:role/x"),
            Some("111122223333")
        );
        assert_eq!(account_from_arn("arn:aws:iam::12:role/x"), None);
    }
}
