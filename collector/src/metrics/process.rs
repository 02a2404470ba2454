//! The standard `process_*` metrics of the Prometheus client libraries (CPU seconds, resident and virtual
//! memory, open and allowed file descriptors, start time), read from `/proc/self` at each scrape; a reading that
//! fails leaves its metric out of that scrape.

use procfs::process::{LimitValue, Process};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the collector's own process at each scrape.
#[derive(Debug)]
pub struct ProcessCollector;

/// Encodes `metric` under `name` with `help`.
fn put(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(process) = Process::myself() else { return Ok(()) };
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(stat) = process.stat() {
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
            put(&mut encoder, "process_cpu_seconds", "User and system CPU time spent, seconds", &cpu)?;
            let resident = ConstGauge::new((stat.rss * procfs::page_size()) as f64);
            put(&mut encoder, "process_resident_memory_bytes", "Resident memory size, bytes", &resident)?;
            let virtual_memory = ConstGauge::new(stat.vsize as f64);
            put(&mut encoder, "process_virtual_memory_bytes", "Virtual memory size, bytes", &virtual_memory)?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let started = ConstGauge::new(boot as f64 + stat.starttime as f64 / ticks);
                let help = "Start time of the process since the Unix epoch, seconds";
                put(&mut encoder, "process_start_time_seconds", help, &started)?;
            }
        }
        if let Ok(open) = process.fd_count() {
            put(&mut encoder, "process_open_fds", "Open file descriptors", &ConstGauge::new(open as i64))?;
        }
        if let Ok(limits) = process.limits()
            && let LimitValue::Value(limit) = limits.max_open_files.soft_limit
        {
            let allowed = ConstGauge::new(i64::try_from(limit).unwrap_or(i64::MAX));
            put(&mut encoder, "process_max_fds", "The limit of open file descriptors", &allowed)?;
        }
        Ok(())
    }
}
