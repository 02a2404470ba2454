//! Contracts: `GET /api/v1/contracts` (each one's standing in its current period), `/api/v1/contracts/{id}`
//! (one period: standing, report, per-region view, daily latency), `/api/v1/contracts/{id}/incidents` and
//! `/api/v1/contracts/{id}/report` (the claim report in any format `report` makes). `period` defaults to the
//! current one, which is reported up to now.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery};
use crate::http::HttpState;
use crate::views::{store_period_view, store_reports, store_status};
use slaprobe_sla::breakdown::{DayLatency, RegionView};
use slaprobe_sla::contract::{Contract, NoData, PeriodKind};
use slaprobe_sla::render::{Format, render};
use slaprobe_sla::status::{ContractStatus, current_period};
use slaprobe_sla::{Incident, Report};

/// A contract's terms as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct ContractInfo {
    /// Contract id.
    pub id: String,
    /// Vendor.
    pub vendor: String,
    /// Service.
    pub service: String,
    /// The checks it is judged on.
    pub checks: Vec<String>,
    /// Objective, percent.
    #[serde(with = "rust_decimal::serde::float")]
    pub objective: Decimal,
    /// `month` or `quarter`.
    pub period: PeriodKind,
    /// IANA time zone of its periods.
    pub timezone: String,
    /// Fee per period.
    #[serde(with = "rust_decimal::serde::float")]
    pub fee: Decimal,
    /// Currency of fee and credits.
    pub currency: String,
}

impl ContractInfo {
    fn of(contract: &Contract) -> Self {
        let terms = &contract.terms;
        Self {
            id: terms.id.clone(),
            vendor: terms.vendor.clone(),
            service: terms.service.clone(),
            checks: terms.checks.clone(),
            objective: terms.objective,
            period: terms.period,
            timezone: terms.timezone.clone(),
            fee: terms.credits.fee,
            currency: terms.credits.currency.clone(),
        }
    }
}

/// One contract in one period.
#[derive(Debug, Clone, Serialize)]
pub struct ContractDetail {
    /// The terms.
    pub contract: ContractInfo,
    /// Whether this is the current period (reported up to `as_of`).
    pub current: bool,
    /// The standing (current period only; its `so_far` equals `report`).
    pub status: Option<ContractStatus>,
    /// The period's report.
    pub report: Report,
    /// Each region's own view.
    pub regions: Vec<RegionView>,
    /// Latency percentiles per local day.
    pub latency: Vec<DayLatency>,
    /// The period holding the contract's first stored result (`null` when there is none): no earlier period
    /// has anything to show.
    pub first_period: Option<String>,
    /// How unknown slices count (`exclude`, `up`, `down`): what the error budget is a share of.
    pub no_data: NoData,
}

/// What the contract endpoints take.
#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    /// `2026-02` or `2026-Q1`; the current period when absent.
    pub period: Option<String>,
    /// Report format (`json` default, `csv`, `md`, `html`).
    pub format: Option<Format>,
}

/// Every contract's standing in its current period at `as_of`, in configuration order.
pub async fn contract_statuses(state: &HttpState, as_of: Timestamp) -> Result<Vec<ContractStatus>, ApiError> {
    let config = state.config.borrow().clone();
    let statuses = store_status(&config, &state.store, &state.standings, as_of, None).await?;
    Ok(statuses.into_iter().map(|(_, status)| status).collect())
}

/// Contract `id` in `period` (the current one when `None`) as of `as_of`.
pub async fn contract_detail(
    state: &HttpState,
    id: &str,
    period: Option<&str>,
    as_of: Timestamp,
) -> Result<ContractDetail, ApiError> {
    let config = state.config.borrow().clone();
    let view = store_period_view(&config, &state.store, id, period, as_of).await?;
    Ok(ContractDetail {
        contract: ContractInfo::of(view.contract),
        current: view.status.is_some(),
        regions: view.regions,
        latency: view.latency,
        status: view.status,
        report: view.report,
        first_period: view
            .horizon
            .monitored_from
            .and_then(|first| current_period(view.contract, first).ok())
            .map(|period| period.label),
        no_data: view.contract.terms.no_data,
    })
}

/// `GET /api/v1/contracts`.
pub async fn contracts(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let as_of = Timestamp::now();
    let statuses = contract_statuses(&state, as_of).await?;
    Ok(Json(serde_json::json!({ "as_of": as_of, "contracts": statuses })))
}

/// `GET /api/v1/contracts/{id}?period=2026-02`.
pub async fn contract(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> Result<Json<ContractDetail>, ApiError> {
    Ok(Json(contract_detail(&state, &id, query.period.as_deref(), Timestamp::now()).await?))
}

/// A period's incidents.
#[derive(Debug, Serialize)]
pub struct Incidents {
    /// Contract id.
    pub contract: String,
    /// Period label.
    pub period: String,
    /// Its incidents, in time order.
    pub incidents: Vec<Incident>,
}

/// `GET /api/v1/contracts/{id}/incidents?period=2026-02`.
pub async fn incidents(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> Result<Json<Incidents>, ApiError> {
    let config = state.config.borrow().clone();
    let view = store_period_view(&config, &state.store, &id, query.period.as_deref(), Timestamp::now()).await?;
    Ok(Json(Incidents { contract: id, period: view.report.period, incidents: view.report.incidents }))
}

/// `GET /api/v1/contracts/{id}/report?period=2026-02&format=html`: the claim report, as `report` makes it (for
/// a whole period: the current one is reported up to its end, its future slices unknown).
pub async fn contract_report(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> Result<Response, ApiError> {
    let config = state.config.borrow().clone();
    let Some(period) = query.period else {
        return Err(ApiError::bad_request("give the period: ?period=2026-02 or ?period=2026-Q1".to_owned()));
    };
    let format = query.format.unwrap_or(Format::Json);
    let reports = store_reports(&config, &state.store, &period, Some(&id), Timestamp::now()).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], render(&reports, format)).into_response())
}
