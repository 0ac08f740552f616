#include "process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace callgate::app {

namespace {

using engine::metric_type;

constexpr engine::metric_family cpu_seconds_total{"process_cpu_seconds_total", metric_type::counter,
                                                  "Total user and system CPU time spent in seconds."};
constexpr engine::metric_family resident_memory_bytes{"process_resident_memory_bytes", metric_type::gauge,
                                                      "Resident memory size in bytes."};
constexpr engine::metric_family virtual_memory_bytes{"process_virtual_memory_bytes", metric_type::gauge,
                                                     "Virtual memory size in bytes."};
constexpr engine::metric_family open_fds{"process_open_fds", metric_type::gauge, "Number of open file descriptors."};
constexpr engine::metric_family max_fds{"process_max_fds", metric_type::gauge,
                                        "Maximum number of open file descriptors."};
constexpr engine::metric_family start_time_seconds{"process_start_time_seconds", metric_type::gauge,
                                                    "Start time of the process since unix epoch in seconds."};

// What /proc/self/stat says, in its units.
struct proc_stat {
    std::uint64_t utime_ticks = 0, stime_ticks = 0, start_ticks = 0, vsize_bytes = 0, rss_pages = 0;
};

std::optional<std::string> read_file(const char* path)
{
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// proc(5): "pid (comm) state ppid …"; the fields are counted after the
// last ')' since comm may hold spaces and parentheses. utime is field 14,
// stime 15, starttime 22, vsize 23, rss 24.
std::optional<proc_stat> read_proc_stat()
{
    auto text = read_file("/proc/self/stat");
    if (!text)
        return std::nullopt;
    auto close = text->rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    std::string_view rest = std::string_view(*text).substr(close + 1);
    proc_stat out;
    int field = 2; // comm was field 2
    while (!rest.empty()) {
        while (!rest.empty() && rest.front() == ' ')
            rest.remove_prefix(1);
        auto end = rest.find(' ');
        auto token = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        ++field;
        std::uint64_t* target = field == 14   ? &out.utime_ticks
                                : field == 15 ? &out.stime_ticks
                                : field == 22 ? &out.start_ticks
                                : field == 23 ? &out.vsize_bytes
                                : field == 24 ? &out.rss_pages
                                              : nullptr;
        if (target != nullptr &&
            std::from_chars(token.data(), token.data() + token.size(), *target).ec != std::errc{})
            return std::nullopt;
        if (field == 24)
            return out;
    }
    return std::nullopt;
}

// The boot time, from /proc/stat's "btime" line (seconds since the epoch).
std::optional<std::uint64_t> boot_time()
{
    auto text = read_file("/proc/stat");
    if (!text)
        return std::nullopt;
    auto at = text->find("\nbtime ");
    if (at == std::string::npos)
        return std::nullopt;
    std::uint64_t value = 0;
    const char* begin = text->data() + at + 7;
    if (std::from_chars(begin, text->data() + text->size(), value).ec != std::errc{})
        return std::nullopt;
    return value;
}

std::optional<std::uint64_t> count_open_fds()
{
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr)
        return std::nullopt;
    std::uint64_t n = 0;
    while (const dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.')
            ++n;
    ::closedir(dir);
    return n > 0 ? n - 1 : 0; // less the directory's own descriptor
}

} // namespace

void render_process_metrics(engine::metrics_writer& out)
{
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    static const auto page_size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    static const auto booted = boot_time();
    if (auto stat = read_proc_stat()) {
        out.family(cpu_seconds_total)
            .sample(static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks_per_second);
        out.family(resident_memory_bytes).sample(stat->rss_pages * page_size);
        out.family(virtual_memory_bytes).sample(stat->vsize_bytes);
        if (booted)
            out.family(start_time_seconds)
                .sample(static_cast<double>(*booted) + static_cast<double>(stat->start_ticks) / ticks_per_second);
    }
    if (auto fds = count_open_fds())
        out.family(open_fds).sample(*fds);
    if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0)
        out.family(max_fds).sample(static_cast<std::uint64_t>(limit.rlim_cur));
}

} // namespace callgate::app
