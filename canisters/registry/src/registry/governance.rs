//! Governance: SNS-style `validate_*` / `execute_*` pairs.

use super::*;

impl<M: Memory> Registry<M> {
    pub(super) fn only_governance(&self, caller: Principal) -> Result<(), RegistryError> {
        if caller != self.config.governance {
            return Err(RegistryError::NotGovernance);
        }
        Ok(())
    }

    /// Renders a parameter change (SNS `validate_set_params`).
    pub fn validate_set_params(&self, p: &Params) -> Result<String, String> {
        rules::check_params(p).map_err(|e| e.to_string())?;
        Ok(format!(
            "set registry parameters\nfrom: {:?}\nto:   {:?}",
            self.config.params, p
        ))
    }

    /// Applies a parameter change (governance only).
    pub fn execute_set_params(
        &mut self,
        caller: Principal,
        p: &Params,
        now: u64,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        rules::check_params(p)?;
        self.config.params = p.clone();
        self.save_config()?;
        let _ = now;
        Ok(())
    }

    /// Renders a change of the governance principal (SNS `validate_set_governance`).
    pub fn validate_set_governance(&self, p: &Principal) -> Result<String, String> {
        if *p == Principal::anonymous() || *p == Principal::management_canister() {
            return Err(format!("{p} cannot be the governance principal"));
        }
        Ok(format!(
            "set the registry's governance principal from {} to {}",
            self.config.governance, p
        ))
    }

    /// Hands governance to another principal (governance only): from then on only `p` may call
    /// the `execute_*` methods.
    pub fn execute_set_governance(
        &mut self,
        caller: Principal,
        p: &Principal,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        self.validate_set_governance(p)
            .map_err(RegistryError::InvalidArgument)?;
        self.config.governance = *p;
        self.save_config()
    }

    /// Renders a treasury change.
    pub fn validate_set_treasury(&self, a: &Account) -> Result<String, String> {
        if a.owner == Principal::anonymous() {
            return Err("the treasury cannot be the anonymous principal".into());
        }
        Ok(format!(
            "set the treasury account from {} to {}",
            self.config.treasury, a
        ))
    }

    /// Changes the treasury (governance only).
    pub fn execute_set_treasury(
        &mut self,
        caller: Principal,
        a: &Account,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        self.validate_set_treasury(a)
            .map_err(RegistryError::InvalidArgument)?;
        self.config.treasury = *a;
        self.save_config()
    }

    /// Renders a change of the trusted epochs canister.
    pub fn validate_set_epochs_canister(&self, p: &Option<Principal>) -> Result<String, String> {
        if *p == Some(Principal::anonymous()) {
            return Err("the epochs canister cannot be anonymous".into());
        }
        let show = |p: &Option<Principal>| p.map(|p| p.to_text()).unwrap_or_else(|| "none".into());
        Ok(format!(
            "set the epochs canister from {} to {}",
            show(&self.config.epochs_canister),
            show(p)
        ))
    }

    /// Changes the trusted epochs canister (governance only); the penalty batch sequence
    /// restarts for the new one.
    pub fn execute_set_epochs_canister(
        &mut self,
        caller: Principal,
        p: &Option<Principal>,
    ) -> Result<(), RegistryError> {
        self.only_governance(caller)?;
        self.validate_set_epochs_canister(p)
            .map_err(RegistryError::InvalidArgument)?;
        if self.config.epochs_canister != *p {
            // A new epochs canister numbers its penalty batches from scratch.
            self.meta.last_penalty_batch = None;
            self.save_meta();
        }
        self.config.epochs_canister = *p;
        self.save_config()
    }
}
