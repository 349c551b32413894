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

/// The assumed-role ARN STS gives a session of `role_arn` named `session`
/// (`arn:<partition>:sts::<account>:assumed-role/<role name>/<session>`: the role's path is not
/// part of it), for a record that does not carry `assumedRoleUser.arn` itself.
pub fn assumed_role_arn(role_arn: &str, session: &str) -> Option<String> {
    let mut parts = role_arn.splitn(6, ':');
    let (arn, partition, _iam, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    (arn == "arn"
        && !name.is_empty()
        && !session.is_empty()
        && account_from_arn(role_arn).is_some())
    .then(|| format!("arn:{partition}:sts::{account}:assumed-role/{name}/{session}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_arn_drops_the_roles_path() {
        assert_eq!(
            assumed_role_arn("arn:aws:iam::111122223333:role/ci/deploy", "p.vm-1").as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/deploy/p.vm-1")
        );
        assert_eq!(
            assumed_role_arn("arn:aws-cn:iam::111122223333:role/r", "s").as_deref(),
            Some("arn:aws-cn:sts::111122223333:assumed-role/r/s")
        );
        assert_eq!(assumed_role_arn("arn:aws:iam::1:role/r", "s"), None);
        assert_eq!(
            assumed_role_arn("arn:aws:iam::111122223333:user/r", "s"),
            None
        );
        assert_eq!(
            assumed_role_arn("arn:aws:iam::111122223333:role/r", ""),
            None
        );
    }

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
