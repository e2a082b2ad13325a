use super::{EmailAddress, ParseError, PersonName};

/// `Name <email>`, as typed on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedAddress {
    pub name: PersonName,
    pub email: EmailAddress,
}

impl NamedAddress {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let text = input.trim();
        let shape = || {
            ParseError::new(
                "address",
                format!(
                    "`{}` should look like `Ann Lee <ann@example.com>`",
                    super::email_address::shorten(text)
                ),
            )
        };
        let (name, rest) = text.split_once('<').ok_or_else(shape)?;
        let email = rest.strip_suffix('>').ok_or_else(shape)?;
        if email.contains(['<', '>']) {
            return Err(shape());
        }
        Ok(Self {
            name: PersonName::parse(name.trim().trim_matches('"'))?,
            email: EmailAddress::parse(email)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_address_are_split() {
        let a = NamedAddress::parse(" \"Ann Lee\" <ann@example.com> ").unwrap();
        assert_eq!(a.name.as_str(), "Ann Lee");
        assert_eq!(a.email.as_str(), "ann@example.com");
    }

    #[test]
    fn missing_parts_are_refused() {
        for bad in [
            "ann@example.com",
            "Ann <ann@example.com",
            "<ann@example.com>",
            "Ann <a> <b@c.d>",
        ] {
            assert!(NamedAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
