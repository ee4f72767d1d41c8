//! How the domain's types are stored. Each maps to one column type, so rows
//! come out of the store as domain values, parsed once, right here; a value
//! the domain would refuse is a corrupt row and fails the query.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Binary, Text};

use crate::domain::{
    AccountKind, Description, EmailAddress, IpAllowList, PrivilegeSet, TokenDigest, TokenName,
    Username,
};

/// Text columns holding a domain type: read as a string, then parsed.
macro_rules! from_text {
    ($type:ty, |$s:ident| $parse:expr) => {
        impl<DB: Backend> FromSql<Text, DB> for $type
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let $s = String::from_sql(bytes)?;
                Ok($parse?)
            }
        }
    };
}

/// Text columns written as the type's own string.
macro_rules! to_text {
    ($type:ty) => {
        impl<DB: Backend> ToSql<Text, DB> for $type
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }
    };
}

from_text!(TokenName, |s| TokenName::parse(&s));
// Rules for new descriptions and addresses have tightened over time; what
// was stored under an older rule is read as it is (and the mailer gives up
// on an address it cannot send to) rather than making its row unreadable.
from_text!(Description, |s| Ok::<_, std::convert::Infallible>(
    Description::from_column(s)
));
from_text!(Username, |s| Username::parse(&s));
from_text!(EmailAddress, |s| Ok::<_, std::convert::Infallible>(
    EmailAddress::from_column(s)
));
from_text!(AccountKind, |s| AccountKind::parse(&s));
from_text!(IpAllowList, |s| IpAllowList::from_column(&s));
from_text!(PrivilegeSet, |s| Ok::<_, std::convert::Infallible>(
    PrivilegeSet::from_column(&s)
));
to_text!(TokenName);
to_text!(Description);
to_text!(Username);
to_text!(EmailAddress);

impl<DB: Backend> ToSql<Text, DB> for AccountKind
where
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB: Backend> FromSql<Binary, DB> for TokenDigest
where
    Vec<u8>: FromSql<Binary, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let raw = Vec::<u8>::from_sql(bytes)?;
        TokenDigest::from_bytes(&raw).ok_or_else(|| "a token digest is 32 bytes".into())
    }
}

impl<DB: Backend> ToSql<Binary, DB> for TokenDigest
where
    [u8]: ToSql<Binary, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_bytes().to_sql(out)
    }
}
