// The baseline for durable config writes: raw RocksDB Puts with sync=true
// (WAL fsync before each returns) from N threads, 200-byte values, for a
// fixed time. RocksDB group-commits concurrent writers itself.
//
//   rocksdb_sync_put DIR THREADS SECONDS
// Prints one line: "rocksdb_sync_put threads=N seconds=S ops=N ops_per_sec=X".
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: rocksdb_sync_put DIR THREADS SECONDS\n");
        return 2;
    }
    std::string dir = argv[1];
    int threads = std::stoi(argv[2]);
    double seconds = std::stod(argv[3]);
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(options, dir, &raw);
    if (!s.ok()) {
        std::fprintf(stderr, "open failed: %s\n", s.ToString().c_str());
        return 1;
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> ops{0};
    std::vector<std::thread> workers;
    std::string value(200, 'v');
    auto started = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            rocksdb::WriteOptions wo;
            wo.sync = true;
            std::uint64_t n = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                std::string key = "k" + std::to_string(t) + ":" + std::to_string(n++ % 1000);
                if (!db->Put(wo, key, value).ok())
                    break;
                ops.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& w : workers)
        w.join();
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    std::printf("rocksdb_sync_put threads=%d seconds=%.1f ops=%llu ops_per_sec=%.0f\n", threads, took.count(),
                static_cast<unsigned long long>(ops.load()), static_cast<double>(ops.load()) / took.count());
    return 0;
}
