//! The privilege checkboxes, grouped by category and group as in WHM; used
//! by the token form and by root's reseller editor.

use crate::domain::privileges::PrivilegeError;
use crate::domain::{Privilege, PrivilegeSet};

pub struct PrivilegeItem {
    pub key: &'static str,
    pub label: &'static str,
    pub checked: bool,
    pub warning: Option<&'static str>,
}

pub struct GroupView {
    pub name: &'static str,
    pub items: Vec<PrivilegeItem>,
}

pub struct CategoryView {
    pub name: &'static str,
    pub groups: Vec<GroupView>,
}

impl CategoryView {
    /// Whether a ticked box here is one that `set` permits.
    pub fn ticked_any(&self, set: PrivilegeSet) -> bool {
        self.groups
            .iter()
            .flat_map(|g| &g.items)
            .any(|i| i.checked && Privilege::parse(i.key).is_ok_and(|p| set.allows(p)))
    }
}

/// The boxes for the privileges in `offered`, ticked where in `checked`
/// (all of them when `checked` holds `all`).
pub fn grouped(offered: PrivilegeSet, checked: PrivilegeSet) -> Vec<CategoryView> {
    let offered = offered.expanded();
    let checked = checked.expanded();
    let mut categories: Vec<CategoryView> = Vec::new();
    for p in Privilege::every() {
        let entry = p.entry();
        if !offered.contains(p) {
            continue;
        }
        let item = PrivilegeItem {
            key: entry.key,
            label: entry.label,
            checked: checked.contains(p),
            warning: p.warning(),
        };
        if categories.last().is_none_or(|c| c.name != entry.category) {
            categories.push(CategoryView {
                name: entry.category,
                groups: Vec::new(),
            });
        }
        let category = categories.last_mut().expect("just pushed");
        if category.groups.last().is_none_or(|g| g.name != entry.group) {
            category.groups.push(GroupView {
                name: entry.group,
                items: Vec::new(),
            });
        }
        category
            .groups
            .last_mut()
            .expect("just pushed")
            .items
            .push(item);
    }
    categories
}

/// The ticked boxes (`acl` values) of a submitted form: `Ok(None)` when
/// none is ticked. Ticking *Everything* means everything, whatever else is
/// ticked.
pub fn parse(acl: &[String]) -> Result<Option<PrivilegeSet>, PrivilegeError> {
    match PrivilegeSet::parse(acl.iter().map(String::as_str)) {
        Err(PrivilegeError::Empty) => Ok(None),
        Err(e) => Err(e),
        Ok(set) if set.contains(Privilege::ALL) => Ok(Some(PrivilegeSet::everything())),
        Ok(set) => Ok(Some(set)),
    }
}

/// The ticks to show again after a failed submission: exactly what was sent.
pub fn resubmitted(acl: &[String]) -> PrivilegeSet {
    acl.iter()
        .filter_map(|k| Privilege::parse(k).ok())
        .collect()
}
