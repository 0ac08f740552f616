#pragma once

#include "callgate/engine/metrics.hpp"

namespace callgate::app {

// Appends the standard process_* families of Prometheus' process collector,
// read from /proc/self: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds. A value /proc does not give is left out.
void render_process_metrics(engine::metrics_writer& out);

} // namespace callgate::app
