#include "callgate/engine/call_records.hpp"

#include "callgate/engine/clock.hpp"
#include "callgate/engine/json_writer.hpp"
#include "callgate/engine/store.hpp"
#include "record_codec.hpp"

#include <algorithm>
#include <future>
#include <queue>
#include <memory>

namespace callgate::engine {

using detail::index_member;
using detail::record_reader;
using detail::record_writer;

namespace {

char* put_big_endian(char* out, std::uint64_t v)
{
    for (int i = 7; i >= 0; --i)
        *out++ = static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
}

// An index key, built in place (a call record's two index keys are written
// for every call: no heap string each).
template <std::size_t N>
class index_key {
public:
    std::string_view view() const { return {bytes_.data(), N}; }
    operator std::string_view() const { return view(); }

protected:
    std::array<char, N> bytes_;
};

// identity + (max - created) + record key: iterating forward is newest first.
struct identity_index_key : index_key<40> {
    identity_index_key(const uuid& identity, std::int64_t created_us, const uuid& record_key)
    {
        auto at = std::copy_n(identity.as_key().data(), 16, bytes_.data());
        at = put_big_endian(at, ~static_cast<std::uint64_t>(created_us));
        std::copy_n(record_key.as_key().data(), 16, at);
    }
};

// The identity index's order, newest first: later created first, and for the
// same microsecond the lower record key first (as the index keys sort).
bool listed_before(const index_member& a, const index_member& b)
{
    if (a.created_us != b.created_us)
        return a.created_us > b.created_us;
    return a.key < b.key;
}

// The big-endian integer in the first 8 bytes of `bytes` (fewer if it is shorter).
std::uint64_t big_endian_at(std::string_view bytes)
{
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i)
        v = v << 8 | static_cast<std::uint8_t>(bytes[i]);
    return v;
}

// An identity index entry is a group: the records of one identity that one
// write took (up to max_group_size), under the key of the newest (the group's
// head), with the others as its value, newest first, each as created time
// (8 bytes) + record key. An entry with an empty value is a group of one (as
// every entry was before groups). A busy identity thus costs one index key
// per write of its records, not one per record.
constexpr std::size_t member_bytes = 24;
constexpr std::size_t max_group_size = 256;

void put_member(std::string& out, const index_member& m)
{
    char bytes[member_bytes];
    put_big_endian(bytes, static_cast<std::uint64_t>(m.created_us));
    std::copy_n(m.key.as_key().data(), 16, bytes + 8);
    out.append(bytes, member_bytes);
}

// The head of an index entry from its key, and the other members from its
// value; false when either is malformed.
bool read_group(std::string_view key, std::string_view value, index_member& head, std::vector<index_member>& rest)
{
    auto key_bytes = key.size() == 40 ? uuid::from_key(key.substr(24)) : std::nullopt;
    if (!key_bytes || value.size() % member_bytes != 0)
        return false;
    head = {static_cast<std::int64_t>(~big_endian_at(key.substr(16))), *key_bytes};
    rest.clear();
    for (std::size_t at = 0; at < value.size(); at += member_bytes)
        rest.push_back({static_cast<std::int64_t>(big_endian_at(value.substr(at))),
                        *uuid::from_key(value.substr(at + 8, 16))});
    return true;
}

// The older layout's time index (column::calls_by_time): created + call id.
std::int64_t legacy_time_of(std::string_view key) { return static_cast<std::int64_t>(big_endian_at(key)); }

// The record key of `r`: its call id when that is a version 7 id of its
// created time (callgate mints them so), else a fresh one.
uuid record_key_of(const call_record& r, random_source& random)
{
    return r.id.is_v7_of(r.created_at_us) ? r.id : uuid::generate_v7(random, r.created_at_us);
}

// Reads the record of call `id` through `get` (a store's or a txn's): under
// its own key when that is its record key, else through column::call_keys.
// Sets `key` to the record key it was found under.
template <class Get>
read_result find_record(Get&& get, const uuid& id, call_record& out, std::string& value, uuid& key)
{
    auto r = get(column::calls, id.as_key(), value);
    if (r == read_result::error)
        return r;
    if (r == read_result::found) {
        if (!decode(value, out))
            return read_result::error;
        if (out.id == id) {
            key = id;
            return r;
        }
    }
    std::string key_bytes;
    r = get(column::call_keys, id.as_key(), key_bytes);
    if (r != read_result::found)
        return r;
    auto stored = uuid::from_key(key_bytes);
    if (!stored)
        return read_result::error;
    r = get(column::calls, stored->as_key(), value);
    if (r != read_result::found)
        return r;
    if (!decode(value, out))
        return read_result::error;
    if (out.id != id) // a stale alias (its record purged, the key reused): no such call
        return read_result::not_found;
    key = *stored;
    return r;
}

constexpr std::string_view layout_marker = "call_records.layout";
constexpr std::string_view layout_version = "2";

void write_counts(record_writer& w, const media_counts& c)
{
    w.i64(static_cast<std::int64_t>(c.frames));
    w.i64(static_cast<std::int64_t>(c.bytes));
    w.i64(static_cast<std::int64_t>(c.dropped));
}

bool read_counts(record_reader& r, media_counts& c)
{
    std::int64_t f, b, d;
    if (!r.i64(f) || !r.i64(b) || !r.i64(d))
        return false;
    c = {static_cast<std::uint64_t>(f), static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(d)};
    return true;
}

} // namespace

std::string_view to_string(call_status s)
{
    switch (s) {
    case call_status::initiated: return "initiated";
    case call_status::ringing: return "ringing";
    case call_status::answered: return "answered";
    case call_status::completed: return "completed";
    case call_status::failed: return "failed";
    case call_status::canceled: return "canceled";
    }
    return "initiated";
}

std::optional<call_status> parse_call_status(std::string_view text)
{
    for (auto s : {call_status::initiated, call_status::ringing, call_status::answered, call_status::completed,
                   call_status::failed, call_status::canceled})
        if (to_string(s) == text)
            return s;
    return std::nullopt;
}

std::string_view to_string(hangup_reason r)
{
    switch (r) {
    case hangup_reason::none: return "";
    case hangup_reason::local: return "local";
    case hangup_reason::remote: return "remote";
    case hangup_reason::max_duration: return "max_duration";
    case hangup_reason::rejected: return "rejected";
    case hangup_reason::peer_flood: return "peer_flood";
    }
    return "";
}

std::optional<hangup_reason> parse_hangup_reason(std::string_view text)
{
    for (auto r : {hangup_reason::local, hangup_reason::remote, hangup_reason::max_duration,
                   hangup_reason::rejected, hangup_reason::peer_flood})
        if (to_string(r) == text)
            return r;
    return std::nullopt;
}

std::string encode(const call_record& r)
{
    // Fixed fields (135 bytes with their flags and the texts' length bytes)
    // and the texts: one allocation, no regrowth, for the usual record.
    record_writer w(144 + r.remote_phone_number.size() + r.decision_source.size() +
                    (r.local_phone_number ? r.local_phone_number->size() : 0) +
                    (r.client_websocket_url ? r.client_websocket_url->size() : 0) +
                    (r.decision_reason ? r.decision_reason->size() : 0));
    w.id(r.id);
    w.u8(r.agent_identity_id ? 1 : 0);
    if (r.agent_identity_id)
        w.id(*r.agent_identity_id);
    w.optional_text(r.local_phone_number);
    w.text(r.remote_phone_number);
    w.u8(static_cast<std::uint8_t>(r.status));
    w.u8(static_cast<std::uint8_t>(r.hangup));
    w.optional_text(r.client_websocket_url);
    w.u8(r.answered_decision ? 1 : 0);
    w.text(r.decision_source);
    w.optional_text(r.decision_reason);
    w.i64(r.decided_in_us);
    w.u8(r.has_media ? 1 : 0);
    write_counts(w, r.edge_to_client);
    write_counts(w, r.client_to_edge);
    w.i64(r.started_at_us);
    w.i64(r.ended_at_us);
    w.i64(r.created_at_us);
    w.i64(r.updated_at_us);
    return w.take();
}

bool decode(std::string_view bytes, call_record& out)
{
    record_reader r(bytes);
    std::uint8_t has_identity = 0, status = 0, hangup = 0, answered = 0, media = 0;
    if (!r.ok() || !r.id(out.id) || !r.u8(has_identity) || has_identity > 1)
        return false;
    out.agent_identity_id.reset();
    if (has_identity == 1) {
        uuid u;
        if (!r.id(u))
            return false;
        out.agent_identity_id = u;
    }
    if (!r.optional_text(out.local_phone_number) || !r.text(out.remote_phone_number) || !r.u8(status) ||
        status > static_cast<std::uint8_t>(call_status::canceled) || !r.u8(hangup) ||
        hangup > static_cast<std::uint8_t>(hangup_reason::peer_flood) || !r.optional_text(out.client_websocket_url) ||
        !r.u8(answered) || !r.text(out.decision_source) || !r.optional_text(out.decision_reason) ||
        !r.i64(out.decided_in_us) || !r.u8(media) || !read_counts(r, out.edge_to_client) ||
        !read_counts(r, out.client_to_edge) || !r.i64(out.started_at_us) || !r.i64(out.ended_at_us) ||
        !r.i64(out.created_at_us) || !r.i64(out.updated_at_us))
        return false;
    out.status = static_cast<call_status>(status);
    out.hangup = static_cast<hangup_reason>(hangup);
    out.answered_decision = answered == 1;
    out.has_media = media == 1;
    return r.done();
}

namespace {

void time_or_null(json_writer& w, std::string_view key, std::int64_t us)
{
    w.key(key);
    if (us != 0)
        w.value(format_rfc3339(us));
    else
        w.null();
}

// The fields both shapes share, in this order, up to client_websocket_url.
void write_call_head(json_writer& w, const call_record& r)
{
    w.field("local_phone_number", r.local_phone_number)
        .field("remote_phone_number", r.remote_phone_number)
        .field("direction", "inbound")
        .field("status", to_string(r.status))
        .key("hangup_reason");
    if (r.hangup == hangup_reason::none)
        w.null();
    else
        w.value(to_string(r.hangup));
    w.field("client_websocket_url", r.client_websocket_url);
}

void write_call_times(json_writer& w, const call_record& r)
{
    time_or_null(w, "started_at", r.started_at_us);
    time_or_null(w, "ended_at", r.ended_at_us);
    time_or_null(w, "created_at", r.created_at_us);
    time_or_null(w, "updated_at", r.updated_at_us);
}

} // namespace

bool is_blocked(const call_record& r) { return r.decision_reason && *r.decision_reason == "contact_blocked"; }

void write_call_record(json_writer& w, const call_record& r)
{
    w.begin_object().field("id", r.id).key("agent_identity_id");
    if (r.agent_identity_id)
        w.value(*r.agent_identity_id);
    else
        w.null();
    write_call_head(w, r);
    w.key("decision")
        .begin_object()
        .field("action", r.answered_decision ? "answer" : "reject")
        .field("source", r.decision_source)
        .field("reason", r.decision_reason)
        .field("decided_in_us", r.decided_in_us)
        .end_object()
        .key("media");
    if (r.has_media) {
        auto counts = [&w](std::string_view key, const media_counts& c) {
            w.key(key)
                .begin_object()
                .field("frames", static_cast<std::int64_t>(c.frames))
                .field("bytes", static_cast<std::int64_t>(c.bytes))
                .field("dropped", static_cast<std::int64_t>(c.dropped))
                .end_object();
        };
        w.begin_object();
        counts("edge_to_client", r.edge_to_client);
        counts("client_to_edge", r.client_to_edge);
        w.end_object();
    } else {
        w.null();
    }
    write_call_times(w, r);
    w.end_object();
}

void write_inkbox_call_record(json_writer& w, const call_record& r)
{
    w.begin_object().field("id", r.id);
    write_call_head(w, r);
    w.key("use_inkbox_tts").null().key("use_inkbox_stt").null();
    write_call_times(w, r);
    // Inkbox's `reason` is an outbound call's task brief, not a decision
    // reason: the decision stays in the native record.
    w.field("origin", "dedicated_number")
        .field("mode", "client_websocket")
        .key("reason")
        .null()
        .field("is_blocked", is_blocked(r))
        .end_object();
}

call_log::call_log(store& db, clock_source& clock, convert_progress on_convert)
    : db_(db), clock_(clock), on_convert_(std::move(on_convert))
{
    convert();
    writer_ = std::thread([this] {
        std::unique_lock lock(wake_mutex_);
        while (!stopping_) {
            // Asleep until the first record comes (an idle node does not wake
            // this thread), then up to batch_window for more to write in one batch.
            // record() reads writer_asleep_ after queueing: either the check
            // below sees its record or record() sees the flag and wakes us.
            writer_asleep_.store(true);
            wake_.wait(lock, [this] { return stopping_ || any_queued(); });
            writer_asleep_.store(false);
            wake_.wait_for(lock, batch_window, [this] { return stopping_ || batch_full_; });
            batch_full_ = false;
            if (!any_queued())
                continue;
            bool writable = db_.health() == store_health::ok;
            if (writable && !converted()) { // opened on a full or read-only disk: convert now
                lock.unlock();
                writable = convert();
                lock.lock();
            }
            if (!writable) {
                // A full or read-only disk: drop rather than hold records in memory.
                for (auto& part : parts_) {
                    std::lock_guard part_lock(part.mutex);
                    dropped_.fetch_add(part.records.size(), std::memory_order_relaxed);
                    part.records.clear();
                }
                continue;
            }
            lock.unlock();
            auto written = std::make_shared<std::size_t>(0);
            db_.submit_unsynced({[this, written](write_txn& txn) {
                                     *written = write_pending_in(txn);
                                     return true;
                                 },
                                 count_if_refused(written), false});
            lock.lock();
        }
    });
}

bool call_log::any_queued()
{
    for (auto& part : parts_) {
        std::lock_guard lock(part.mutex);
        if (!part.records.empty())
            return true;
    }
    return false;
}

call_log::~call_log() { stop(); }

void call_log::stop()
{
    {
        std::lock_guard lock(wake_mutex_);
        if (stopping_)
            return;
        stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
    std::promise<bool> done;
    flush([&done](bool ok) { done.set_value(ok); });
    done.get_future().wait();
}

std::function<void(const store_status&)> call_log::count_if_refused(std::shared_ptr<std::size_t> written)
{
    return [this, written](const store_status& s) {
        if (!s.ok)
            dropped_.fetch_add(*written, std::memory_order_relaxed);
    };
}

std::size_t call_log::write_pending_in(write_txn& txn)
{
    // Each part gets back the buffer written last time (emptied below), so
    // record() appends into room it already has instead of growing a fresh
    // vector every batch.
    for (auto& part : parts_) {
        std::lock_guard lock(part.mutex);
        part.writing.swap(part.records);
    }
    // Written in key order: the I/O threads queue records a little out of the
    // order of their created times, and a memtable insert in order starts
    // from the previous one (the column's insert hint) instead of searching
    // the skip list from the top. Records under the same key (an id the edge
    // sent twice) keep their queue order, so the later one is the one kept.
    keyed_.clear();
    for (std::uint32_t p = 0; p < parts_.size(); ++p) {
        const auto& batch = parts_[p].writing;
        for (std::uint32_t i = 0; i < batch.size(); ++i) {
            auto key = record_key_of(batch[i], keys_);
            if (key != batch[i].id)
                txn.put(column::call_keys, batch[i].id.as_key(), key.as_key());
            keyed_.push_back({key, p, i});
        }
    }
    std::sort(keyed_.begin(), keyed_.end());
    indexing_.clear();
    for (const auto& k : keyed_) {
        const auto& r = parts_[k.part].writing[k.at];
        txn.put(column::calls, k.key.as_key(), encode(r));
        if (r.agent_identity_id)
            indexing_.push_back({*r.agent_identity_id, {r.created_at_us, k.key}});
    }
    // The identity index: one group per identity (per max_group_size records)
    // of this batch, each under its newest record.
    std::sort(indexing_.begin(), indexing_.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : listed_before(a.second, b.second);
    });
    std::string members;
    for (std::size_t at = 0; at < indexing_.size();) {
        const auto& [identity, head] = indexing_[at];
        std::size_t end = at + 1;
        members.clear();
        for (; end < indexing_.size() && end - at < max_group_size && indexing_[end].first == identity; ++end)
            put_member(members, indexing_[end].second);
        txn.put(column::calls_by_identity, identity_index_key(identity, head.created_us, head.key), members);
        at = end;
    }
    // The batch is in the WriteBatch now: its records go at once, and the
    // room a burst took (up to max_pending records a part) is not kept.
    for (auto& part : parts_) {
        part.writing.clear();
        if (part.writing.capacity() > 4096)
            part.writing = {};
    }
    return keyed_.size();
}

void call_log::record(call_record record)
{
    std::size_t queued;
    {
        auto& part = parts_[codec::this_thread_stripe()];
        std::lock_guard lock(part.mutex);
        if (part.records.size() >= max_pending) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        part.records.push_back(std::move(record));
        queued = part.records.size();
    }
    // The first record wakes an idle writer (its batch window's start); a
    // part's 1024th ends a batch early.
    if ((queued == 1 && writer_asleep_.load()) || queued == 1024) {
        {
            std::lock_guard lock(wake_mutex_);
            batch_full_ = batch_full_ || queued == 1024;
        }
        wake_.notify_one();
    }
}

void call_log::flush(std::function<void(bool ok)> done)
{
    auto written = std::make_shared<std::size_t>(0);
    db_.submit_unsynced({[this, written](write_txn& txn) {
                             *written = write_pending_in(txn);
                             return true;
                         },
                         [counted = count_if_refused(written), done = std::move(done)](const store_status& s) {
                             counted(s);
                             done(s.ok);
                         },
                         false});
}

void call_log::update(const uuid& call_id, std::function<bool(call_record&)> change,
                      std::function<void(config_errc)> done)
{
    auto error = std::make_shared<config_errc>(config_errc::ok);
    db_.submit_unsynced({[this, call_id, change = std::move(change), error](write_txn& txn) {
                             // A record still queued is changed in the queue, where the writer
                             // will pick it up; otherwise it is read, changed and written back.
                             for (auto& part : parts_) {
                                 std::lock_guard lock(part.mutex);
                                 for (auto& queued : part.records) {
                                     if (queued.id == call_id) {
                                         if (change(queued))
                                             queued.updated_at_us = clock_.now_us();
                                         return false;
                                     }
                                 }
                             }
                             std::string value;
                             call_record record;
                             uuid key;
                             auto r = find_record(
                                 [&](column c, std::string_view k, std::string& v) { return txn.get(c, k, v); },
                                 call_id, record, value, key);
                             if (r != read_result::found) {
                                 *error = r == read_result::not_found ? config_errc::no_config
                                                                      : config_errc::store_failure;
                                 return false;
                             }
                             if (!change(record))
                                 return false;
                             record.updated_at_us = clock_.now_us();
                             txn.put(column::calls, key.as_key(), encode(record));
                             return true;
                         },
                         [error, done = std::move(done)](const store_status& s) {
                             done(*error == config_errc::ok && !s.ok ? errc_of_write(s) : *error);
                         }});
}

config_result<call_record> call_log::get(const uuid& call_id)
{
    std::string value;
    call_record record;
    uuid key;
    auto r = find_record([this](column c, std::string_view k, std::string& v) { return db_.get(c, k, v); },
                         call_id, record, value, key);
    if (r == read_result::not_found)
        return {config_errc::no_config, {}};
    if (r != read_result::found)
        return {config_errc::store_failure, {}};
    return {config_errc::ok, std::move(record)};
}

config_errc call_log::newest_first(const std::optional<uuid>& identity, std::size_t position, std::size_t chunk,
                                   std::vector<call_record>& out, std::size_t& seen)
{
    seen = 0;
    bool corrupt = false;
    store_status status;
    if (!identity && converted()) {
        // The calls column is in time order: its last records are the newest.
        status = db_.scan_reverse(column::calls, position, [&](std::string_view, std::string_view value) {
            ++seen;
            call_record record;
            if (!decode(value, record)) {
                corrupt = true;
                return false;
            }
            out.push_back(std::move(record));
            return seen < chunk;
        });
        if (!status.ok || corrupt)
            return config_errc::store_failure;
        return config_errc::ok;
    }
    // An index: one identity's record keys, or (not yet converted) the old
    // time index's call ids; then each record.
    std::vector<uuid> ids;
    if (identity) {
        // Groups come in order of their heads. A group's other records are
        // older than its head but may be newer than the next group's (a record
        // can be queued late, after its webhook), so they wait in a heap and
        // go out once no later group can hold a newer one.
        auto after = [](const index_member& a, const index_member& b) { return listed_before(b, a); };
        std::priority_queue<index_member, std::vector<index_member>, decltype(after)> waiting(after);
        std::size_t listed = 0; // index positions passed, from the newest
        auto list_one = [&](const index_member& m) {
            if (listed++ >= position)
                ids.push_back(m.key);
            return listed < position + chunk;
        };
        bool enough = false;
        index_member head;
        std::vector<index_member> rest;
        status = db_.scan(column::calls_by_identity, identity->as_key(), 0,
                          [&](std::string_view key, std::string_view value) {
                              if (!read_group(key, value, head, rest)) {
                                  corrupt = true;
                                  return false;
                              }
                              for (; !waiting.empty() && listed_before(waiting.top(), head); waiting.pop())
                                  if (!list_one(waiting.top()))
                                      return !(enough = true);
                              if (!list_one(head))
                                  return !(enough = true);
                              for (const auto& m : rest)
                                  waiting.push(m);
                              return true;
                          });
        for (; !enough && !waiting.empty(); waiting.pop())
            enough = !list_one(waiting.top());
        if (corrupt)
            return config_errc::store_failure;
        seen = ids.size();
    } else {
        status = db_.scan_reverse(column::calls_by_time, position, [&](std::string_view key, std::string_view) {
            if (auto id = uuid::from_key(key.substr(8)))
                ids.push_back(*id);
            return ++seen < chunk;
        });
    }
    if (!status.ok)
        return config_errc::store_failure;
    auto store_get = [this](column c, std::string_view k, std::string& v) { return db_.get(c, k, v); };
    for (const auto& id : ids) {
        std::string value;
        call_record record;
        read_result r;
        if (identity) { // a record key: the record is right there
            r = db_.get(column::calls, id.as_key(), value);
            if (r == read_result::found && !decode(value, record))
                r = read_result::error;
        } else { // a call id
            uuid key;
            r = find_record(store_get, id, record, value, key);
        }
        if (r == read_result::not_found)
            continue; // purged between the index read and now
        if (r == read_result::error)
            return config_errc::store_failure;
        out.push_back(std::move(record));
    }
    return config_errc::ok;
}

config_result<std::vector<call_record>> call_log::list(std::optional<uuid> identity, std::size_t limit,
                                                       std::size_t offset, const std::function<bool(const call_record&)>& keep)
{
    config_result<std::vector<call_record>> out;
    // Without a filter the index skips `offset` itself; with one, records are
    // read a chunk at a time and `offset` counts the records kept.
    std::size_t position = keep ? 0 : offset, chunk = keep ? 256 : limit, kept = 0;
    if (chunk == 0)
        return out;
    for (;;) {
        std::vector<call_record> records;
        std::size_t seen = 0;
        if (auto e = newest_first(identity, position, chunk, records, seen); e != config_errc::ok)
            return {e, {}};
        position += seen;
        for (auto& record : records) {
            if (keep && (!keep(record) || kept++ < offset))
                continue;
            out.value.push_back(std::move(record));
            if (out.value.size() >= limit)
                return out;
        }
        if (!keep || seen < chunk)
            return out;
    }
}

namespace {

// A record to purge: where it is and what points at it.
struct stored_call {
    uuid key, id;
    std::optional<uuid> identity;
    std::int64_t created_us = 0;
};

} // namespace

config_result<std::size_t> call_log::purge_older_than(std::int64_t cutoff_us)
{
    if (!convert())
        return {config_errc::store_failure, 0};
    // Oldest first, about 10,000 at a time: the calls column is in time order.
    std::vector<stored_call> old;
    bool corrupt = false;
    auto status = db_.scan(column::calls, "", 0, [&](std::string_view key, std::string_view value) {
        call_record record;
        auto stored = uuid::from_key(key);
        if (!stored || !decode(value, record)) {
            corrupt = true;
            return false;
        }
        if (record.created_at_us >= cutoff_us)
            return false;
        // A chunk never ends inside one microsecond: an identity index group
        // goes with its head, the lowest record key of its newest microsecond,
        // and records of that microsecond sorted after it must go with it.
        if (old.size() >= 10'000 && record.created_at_us != old.back().created_us)
            return false;
        old.push_back({*stored, record.id, record.agent_identity_id, record.created_at_us});
        return true;
    });
    if (!status.ok || corrupt)
        return {config_errc::store_failure, 0};
    if (old.empty())
        return {config_errc::ok, 0};
    auto shared = std::make_shared<std::vector<stored_call>>(std::move(old));
    auto done = std::make_shared<std::promise<bool>>();
    auto future = done->get_future();
    db_.submit_unsynced({[shared](write_txn& txn) {
                             for (const auto& call : *shared) {
                                 txn.del(column::calls, call.key.as_key());
                                 if (call.identity)
                                     txn.del(column::calls_by_identity,
                                             identity_index_key(*call.identity, call.created_us, call.key));
                                 std::string points_at;
                                 if (call.id != call.key &&
                                     txn.get(column::call_keys, call.id.as_key(), points_at) == read_result::found &&
                                     points_at == call.key.as_key())
                                     txn.del(column::call_keys, call.id.as_key());
                             }
                             return true;
                         },
                         [done](const store_status& s) { done->set_value(s.ok); }});
    if (!future.get())
        return {config_errc::store_failure, 0};
    return {config_errc::ok, shared->size()};
}

bool call_log::convert()
{
    if (converted())
        return true;
    std::lock_guard guard(convert_mutex_);
    if (converted())
        return true;
    std::string version;
    auto marked = db_.get(column::meta, layout_marker, version);
    if (marked == read_result::found && version == layout_version) {
        converted_.store(true, std::memory_order_release);
        return true;
    }
    if (marked == read_result::error || db_.health() != store_health::ok)
        return false;
    // A chunk at a time, each one WriteBatch: a record moves to a record key
    // of its time (with its call_keys entry and its identity index entry), and
    // its old time index entry goes. Interrupted, the next start goes on from
    // the entries left. When none are left, the marker.
    std::size_t moved = 0;
    std::string from;
    for (;;) {
        auto entries = std::make_shared<std::vector<std::string>>();
        auto status = db_.scan_from(column::calls_by_time, from, [&](std::string_view key, std::string_view) {
            entries->emplace_back(key);
            return entries->size() < 1000;
        });
        if (!status.ok)
            return false;
        auto moved_now = std::make_shared<std::size_t>(0);
        std::promise<bool> done;
        auto future = done.get_future();
        db_.submit_unsynced({[this, entries, moved_now](write_txn& txn) {
                                 *moved_now = 0;
                                 if (entries->empty()) {
                                     txn.put(column::meta, layout_marker, layout_version);
                                     return true;
                                 }
                                 for (const auto& entry : *entries) {
                                     txn.del(column::calls_by_time, entry);
                                     auto id = uuid::from_key(std::string_view(entry).substr(8));
                                     // The entry carries the record's created time: an id minted for
                                     // it is its record key already, and its record stays unread.
                                     if (!id || id->is_v7_of(legacy_time_of(entry)))
                                         continue;
                                     std::string value;
                                     if (txn.get(column::calls, id->as_key(), value) != read_result::found)
                                         continue; // gone, or moved by an earlier pass
                                     call_record record;
                                     bool readable = decode(value, record) && record.id == *id;
                                     auto created = readable ? record.created_at_us : legacy_time_of(entry);
                                     if (id->is_v7_of(created))
                                         continue; // its call id is its record key already
                                     auto key = uuid::generate_v7(keys_, created);
                                     txn.put(column::calls, key.as_key(), value);
                                     txn.del(column::calls, id->as_key());
                                     txn.put(column::call_keys, id->as_key(), key.as_key());
                                     if (readable && record.agent_identity_id) {
                                         txn.del(column::calls_by_identity,
                                                 identity_index_key(*record.agent_identity_id, created, *id));
                                         txn.put(column::calls_by_identity,
                                                 identity_index_key(*record.agent_identity_id, created, key), "");
                                     }
                                     ++*moved_now;
                                 }
                                 return true;
                             },
                             [&done](const store_status& s) { done.set_value(s.ok); }});
        if (!future.get())
            return false;
        moved += *moved_now;
        if (entries->empty())
            break;
        from = entries->back() + '\0'; // the next key after the chunk's last
        if (on_convert_)
            on_convert_(moved, false);
    }
    converted_.store(true, std::memory_order_release);
    if (on_convert_)
        on_convert_(moved, true);
    return true;
}

} // namespace callgate::engine
