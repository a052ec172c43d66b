//! Isolation of a service definition and the instance id it gives (§7.1,
//! SVC-3).

use std::fmt;

use crate::proto::v1::{BrokerIsolation, ServiceDefinition};
use crate::wire::grammar::{GrammarError, validate_instance_name};

/// Which broker instance serves a service: the typed form of the wire pair
/// (`isolation`, `explicit_instance`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Isolation {
    /// `PRIVATE_BROKER`: a broker of its own, instance `private:<service>`.
    #[default]
    Private,
    /// `SHARED_BROKER`: the per-user shared broker, instance `shared`.
    Shared,
    /// `EXPLICIT_INSTANCE`: the named instance `explicit:<name>`.
    Explicit(String),
}

/// Why a wire (`isolation`, `explicit_instance`) pair is not a valid
/// isolation (SVC-3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationProblem {
    /// The enum number is none of PRIVATE/SHARED/EXPLICIT.
    #[error("isolation {value} is not a known BrokerIsolation value (SVC-3)")]
    Unknown {
        /// The number found.
        value: i32,
    },
    /// PRIVATE or SHARED with a non-empty `explicit_instance`.
    #[error("explicit_instance {instance:?} must be empty when isolation is {isolation} (SVC-3)")]
    InstanceNotAllowed {
        /// The isolation's enum value name.
        isolation: &'static str,
        /// The instance name found.
        instance: String,
    },
    /// EXPLICIT_INSTANCE without a valid instance name.
    #[error(
        "explicit_instance {instance:?} is not a valid instance name for EXPLICIT_INSTANCE: {reason} (SVC-3)",
        reason = grammar_reason(.source)
    )]
    InvalidInstance {
        /// The instance name found (possibly empty).
        instance: String,
        /// The grammar it breaks.
        source: GrammarError,
    },
}

impl Isolation {
    /// The wire enum value.
    pub fn wire_value(&self) -> BrokerIsolation {
        match self {
            Self::Private => BrokerIsolation::PrivateBroker,
            Self::Shared => BrokerIsolation::SharedBroker,
            Self::Explicit(_) => BrokerIsolation::ExplicitInstance,
        }
    }

    /// The wire `explicit_instance` string: the name for EXPLICIT, else empty.
    pub fn explicit_instance(&self) -> &str {
        match self {
            Self::Explicit(name) => name,
            Self::Private | Self::Shared => "",
        }
    }

    /// The typed isolation of a wire pair, checked as SVC-3 requires:
    /// PRIVATE/SHARED need an empty `explicit_instance`, EXPLICIT needs a valid
    /// instance name, and an unknown enum number is invalid.
    pub fn from_wire(isolation: i32, explicit_instance: &str) -> Result<Self, IsolationProblem> {
        let kind = BrokerIsolation::try_from(isolation)
            .map_err(|_| IsolationProblem::Unknown { value: isolation })?;
        match kind {
            BrokerIsolation::PrivateBroker | BrokerIsolation::SharedBroker => {
                if !explicit_instance.is_empty() {
                    return Err(IsolationProblem::InstanceNotAllowed {
                        isolation: kind.as_str_name(),
                        instance: explicit_instance.to_owned(),
                    });
                }
                Ok(if kind == BrokerIsolation::PrivateBroker {
                    Self::Private
                } else {
                    Self::Shared
                })
            }
            BrokerIsolation::ExplicitInstance => validate_instance_name(explicit_instance)
                .map(|()| Self::Explicit(explicit_instance.to_owned()))
                .map_err(|source| IsolationProblem::InvalidInstance {
                    instance: explicit_instance.to_owned(),
                    source,
                }),
        }
    }

    /// The typed isolation of a definition (see [`Isolation::from_wire`]).
    pub fn of(def: &ServiceDefinition) -> Result<Self, IsolationProblem> {
        Self::from_wire(def.isolation, &def.explicit_instance)
    }

    /// The instance id for `service` (§7.1): `private:<service>`, `shared` or
    /// `explicit:<name>`. It is also the backend endpoint's `namespace_id`.
    pub fn instance_id(&self, service: &str) -> String {
        match self {
            Self::Private => format!("private:{service}"),
            Self::Shared => "shared".to_owned(),
            Self::Explicit(name) => format!("explicit:{name}"),
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Private => f.write_str("private"),
            Self::Shared => f.write_str("shared"),
            Self::Explicit(name) => write!(f, "explicit ({name})"),
        }
    }
}

/// The instance id of a definition (§7.1): `private:<svc>`, `shared` or
/// `explicit:<name>`.
///
/// Meant for definitions that passed [`super::validate_definition`]. For one
/// with an isolation number outside the enum it returns `unknown:<n>`, which
/// no valid id can equal; the explicit name is used as found.
pub fn instance_id(def: &ServiceDefinition) -> String {
    match BrokerIsolation::try_from(def.isolation) {
        Ok(BrokerIsolation::PrivateBroker) => Isolation::Private.instance_id(&def.service_name),
        Ok(BrokerIsolation::SharedBroker) => Isolation::Shared.instance_id(&def.service_name),
        Ok(BrokerIsolation::ExplicitInstance) => {
            format!("explicit:{}", def.explicit_instance)
        }
        Err(_) => format!("unknown:{}", def.isolation),
    }
}

/// A grammar error's reason without the field name it starts with, for
/// messages that already name the field and value.
pub(crate) fn grammar_reason(error: &GrammarError) -> String {
    match error {
        GrammarError::Empty { .. } => "it is empty".to_owned(),
        GrammarError::TooLong { len, max, .. } => {
            format!("it is {len} bytes long, over the limit of {max}")
        }
        GrammarError::InvalidByte { at, found, .. } => {
            format!("{found:?} at byte {at}; only [a-z0-9-] is allowed")
        }
        GrammarError::NotAVersion { problem, .. } => {
            format!("not MAJOR.MINOR.PATCH[-prerelease]: {problem}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_follow_section_7_1() {
        assert_eq!(Isolation::Private.instance_id("zccache"), "private:zccache");
        assert_eq!(Isolation::Shared.instance_id("zccache"), "shared");
        assert_eq!(
            Isolation::Explicit("pool-a".into()).instance_id("zccache"),
            "explicit:pool-a"
        );
    }

    #[test]
    fn wire_pairs_round_trip_through_the_typed_form() {
        for isolation in [
            Isolation::Private,
            Isolation::Shared,
            Isolation::Explicit("pool-a".into()),
        ] {
            let back =
                Isolation::from_wire(isolation.wire_value() as i32, isolation.explicit_instance());
            assert_eq!(back, Ok(isolation));
        }
    }

    #[test]
    fn invalid_wire_pairs_are_named() {
        assert_eq!(
            Isolation::from_wire(7, ""),
            Err(IsolationProblem::Unknown { value: 7 })
        );
        let err = Isolation::from_wire(1, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "explicit_instance \"x\" must be empty when isolation is SHARED_BROKER (SVC-3)"
        );
        let err = Isolation::from_wire(2, "Bad").unwrap_err();
        assert!(err.to_string().contains("'B' at byte 0"), "{err}");
        assert!(matches!(
            Isolation::from_wire(2, ""),
            Err(IsolationProblem::InvalidInstance { .. })
        ));
    }
}
