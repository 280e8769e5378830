//! The daily model budget of one replica.

use std::sync::Mutex;

/// Spend per UTC day, against an optional limit.
pub struct DailyBudget {
    limit_usd: Option<f64>,
    spent: Mutex<(i64, f64)>,
}

impl DailyBudget {
    /// A budget of `limit_usd` per UTC day; `None` is unlimited.
    pub fn new(limit_usd: Option<f64>) -> Self {
        Self { limit_usd, spent: Mutex::new((today(), 0.0)) }
    }

    /// Adds spend to today's total.
    pub fn spend(&self, usd: f64) {
        let mut spent = self.spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let day = today();
        if spent.0 != day {
            *spent = (day, 0.0);
        }
        spent.1 += usd;
    }

    /// Today's spend, when it has reached the limit.
    pub fn exhausted(&self) -> Option<f64> {
        let limit = self.limit_usd?;
        let spent = self.spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (spent.0 == today() && spent.1 >= limit).then_some(spent.1)
    }
}

/// Days since the Unix epoch, UTC.
fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    secs / 86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_up_to_the_limit_exhausts_it() {
        let budget = DailyBudget::new(Some(1.0));
        assert_eq!(budget.exhausted(), None);
        budget.spend(0.6);
        assert_eq!(budget.exhausted(), None);
        budget.spend(0.4);
        assert!(budget.exhausted().is_some());
        let unlimited = DailyBudget::new(None);
        unlimited.spend(1e9);
        assert_eq!(unlimited.exhausted(), None);
    }
}
