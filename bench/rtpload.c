/*
 * rtpload: RTP load generator and sink for bench/media-hold.ts and bench/media-relay.ts.
 * Compiled on first use into bench/bin/rtpload (gcc -O2). Linux only (recvmmsg, SO_TIMESTAMPNS).
 *
 *   rtpload sink SECONDS
 *     Binds 127.0.0.1:0, prints "PORT <n>" on stdout, then counts the RTP streams it receives
 *     (one per SSRC) until stdin closes (or SECONDS pass): packets, sequence gaps, inter-arrival
 *     deviation from 20 ms (kernel receive timestamps). Prints one JSON line and exits.
 *
 *   rtpload relay SECONDS
 *     Binds 127.0.0.1:0, prints "PORT <n>", reads "CALLS <n>" then n lines "<portA> <portB>"
 *     from stdin: for each call it sends 50 packets/s to both legs (PCMU, 160 bytes). onair relays
 *     A's packets out of B and B's out of A, back to this one socket. The payload carries the
 *     stream id and the send time, so each received packet gives its latency; "added jitter" is
 *     latency minus the minimum latency of its stream. Prints one JSON line and exits.
 *
 * Why one socket: every leg latches to (and its socket connects to) the generator's address,
 * so one socket receives all relayed streams; the payload says which stream a packet is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT 172
#define HIST_US 10          /* histogram bucket: 10 us */
#define HIST_N 20000        /* up to 200 ms */

static int64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Receivers sleep this long between drains of their socket. */
#define DRAIN_NS 1000000LL

static void nap(int64_t ns) {
  struct timespec ts = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };
  nanosleep(&ts, NULL);
}

static uint64_t hist[HIST_N];
static uint64_t hist_count;
static double hist_max_ms;

static void hist_add(int64_t ns) {
  if (ns < 0) ns = 0;
  int64_t b = ns / (HIST_US * 1000);
  if (b >= HIST_N) b = HIST_N - 1;
  hist[b]++;
  hist_count++;
  double ms = ns / 1e6;
  if (ms > hist_max_ms) hist_max_ms = ms;
}

static double hist_q(double q) {
  if (hist_count == 0) return 0;
  uint64_t rank = (uint64_t)(q * hist_count);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_N; i++) {
    seen += hist[i];
    if (seen >= rank) return (i + 1) * HIST_US / 1000.0;
  }
  return hist_max_ms;
}

static int open_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int big = 64 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  return fd;
}

/* Receive buffers with room for the kernel timestamp. */
static unsigned char rbuf[BATCH][2048];
static char cbuf[BATCH][CMSG_SPACE(sizeof(struct timespec))];
static struct mmsghdr rmsg[BATCH];
static struct iovec riov[BATCH];

static void rx_init(void) {
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rbuf[i];
    riov[i].iov_len = sizeof rbuf[i];
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
    rmsg[i].msg_hdr.msg_control = cbuf[i];
    rmsg[i].msg_hdr.msg_controllen = sizeof cbuf[i];
  }
}

static int64_t rx_time(int i) {
  struct msghdr *h = &rmsg[i].msg_hdr;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
  }
  return now_ns(CLOCK_REALTIME);
}

static int rx_batch(int fd) {
  for (int i = 0; i < BATCH; i++) rmsg[i].msg_hdr.msg_controllen = sizeof cbuf[i];
  int n = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
  return n < 0 ? 0 : n;
}

/* ---- sink ---------------------------------------------------------------------------------- */

#define MAXS 65536
struct stream { uint32_t ssrc; int used; uint16_t first, last; uint64_t cycles, packets, dup_or_old; int64_t last_ns; };
static struct stream streams[MAXS];
static int nstreams;

static struct stream *find(uint32_t ssrc) {
  uint32_t h = (ssrc * 2654435761u) & (MAXS - 1);
  for (;;) {
    if (!streams[h].used) { streams[h].used = 1; streams[h].ssrc = ssrc; nstreams++; return &streams[h]; }
    if (streams[h].ssrc == ssrc) return &streams[h];
    h = (h + 1) & (MAXS - 1);
  }
}

static int run_sink(double seconds) {
  int fd = open_socket();
  rx_init();
  int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)(seconds * 1e9);
  uint64_t total = 0;
  struct pollfd in = { .fd = 0, .events = POLLIN };
  for (;;) {
    if (now_ns(CLOCK_MONOTONIC) >= end) break;
    /* Sleep, then drain: waiting in poll() on the socket would make every sender's sendmsg()
       wake this process (a loopback artefact, ~1 us per packet charged to onair; a remote peer
       costs the sender nothing). Kernel receive timestamps keep the measurement exact. */
    nap(DRAIN_NS);
    if (poll(&in, 1, 0) > 0) {
      char tmp[256];
      if (read(0, tmp, sizeof tmp) <= 0) break;
    }
    int n;
    while ((n = rx_batch(fd)) > 0) {
      for (int i = 0; i < n; i++) {
        if (rmsg[i].msg_len < 12) continue;
        unsigned char *b = rbuf[i];
        uint32_t ssrc = (uint32_t)b[8] << 24 | b[9] << 16 | b[10] << 8 | b[11];
        uint16_t seq = (uint16_t)(b[2] << 8 | b[3]);
        int64_t at = rx_time(i);
        struct stream *s = find(ssrc);
        total++;
        if (s->packets == 0) { s->first = s->last = seq; }
        else {
          uint16_t d = (uint16_t)(seq - s->last);
          if (d == 0 || d >= 0x8000) s->dup_or_old++;
          else {
            if (seq < s->last) s->cycles += 65536;
            s->last = seq;
            int64_t gap = at - s->last_ns - 20000000LL * d;
            hist_add(gap < 0 ? -gap : gap);
          }
        }
        s->packets++;
        s->last_ns = at;
      }
    }
  }
  uint64_t expected = 0, lost = 0;
  for (int i = 0; i < MAXS; i++) {
    if (!streams[i].used) continue;
    uint64_t e = streams[i].cycles + streams[i].last - streams[i].first + 1;
    expected += e;
    uint64_t got = streams[i].packets - streams[i].dup_or_old;
    if (e > got) lost += e - got;
  }
  printf("{\"streams\":%d,\"packets\":%llu,\"expected\":%llu,\"lost\":%llu,\"interarrival_dev_p50_ms\":%.3f,"
         "\"interarrival_dev_p99_ms\":%.3f,\"interarrival_dev_max_ms\":%.3f}\n",
         nstreams, (unsigned long long)total, (unsigned long long)expected, (unsigned long long)lost,
         hist_q(0.5), hist_q(0.99), hist_max_ms);
  return 0;
}

/* ---- relay --------------------------------------------------------------------------------- */

struct leg { struct sockaddr_in to; uint32_t sent, received; int64_t min_lat; uint16_t seq; };

static int run_relay(double seconds) {
  int fd = open_socket();
  rx_init();
  int calls = 0;
  if (scanf(" CALLS %d", &calls) != 1 || calls <= 0) { fprintf(stderr, "expected CALLS n\n"); return 2; }
  int nlegs = calls * 2;
  struct leg *legs = calloc(nlegs, sizeof *legs);
  for (int i = 0; i < calls; i++) {
    int pa, pb;
    if (scanf(" %d %d", &pa, &pb) != 2) { fprintf(stderr, "expected port pairs\n"); return 2; }
    int ports[2] = { pa, pb };
    for (int k = 0; k < 2; k++) {
      struct leg *l = &legs[i * 2 + k];
      l->to.sin_family = AF_INET;
      l->to.sin_port = htons(ports[k]);
      l->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      l->min_lat = INT64_MAX;
      l->seq = (uint16_t)(i * 7919 + k * 104729);
    }
  }
  /* Streams are spread over twenty 1 ms phases of the 20 ms period. */
  static unsigned char pkt[BATCH][PKT];
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  memset(smsg, 0, sizeof smsg);
  const int64_t tick = 1000000LL;
  int64_t start = now_ns(CLOCK_MONOTONIC) + 50000000LL;
  int64_t stop = start + (int64_t)(seconds * 1e9);
  int64_t drain_until = stop + 500000000LL;
  uint64_t k = 0, send_errors = 0;
  for (;;) {
    int64_t due = start + (int64_t)k * tick;
    int64_t t = now_ns(CLOCK_MONOTONIC);
    if (t >= drain_until) break;
    /* Receive first, every iteration: a generator that falls behind must not starve its sink. */
    int n;
    while ((n = rx_batch(fd)) > 0) {
      for (int i = 0; i < n; i++) {
        if (rmsg[i].msg_len < 28) continue;
        int id;
        int64_t sent;
        memcpy(&id, rbuf[i] + 12, 4);
        memcpy(&sent, rbuf[i] + 16, 8);
        if (id < 0 || id >= nlegs) continue;
        int64_t lat = rx_time(i) - sent;
        struct leg *l = &legs[id];
        l->received++;
        if (lat < l->min_lat) l->min_lat = lat;
        /* latency samples kept per stream relative to its running minimum (first packets
           included: the minimum settles within the first few packets) */
        hist_add(lat - l->min_lat);
      }
    }
    if (t >= due && due < stop) {
      int phase = (int)(k % 20);
      int nb = 0;
      for (int i = phase; i < nlegs; i += 20) {
        struct leg *l = &legs[i];
        unsigned char *b = pkt[nb];
        memset(b, 0xff, PKT);
        b[0] = 0x80; b[1] = 0;
        b[2] = l->seq >> 8; b[3] = l->seq & 0xff;
        uint32_t ts = l->sent * 160;
        b[4] = ts >> 24; b[5] = ts >> 16; b[6] = ts >> 8; b[7] = ts;
        uint32_t ssrc = 0x10000 + i;
        b[8] = ssrc >> 24; b[9] = ssrc >> 16; b[10] = ssrc >> 8; b[11] = ssrc;
        int64_t now = now_ns(CLOCK_REALTIME);
        memcpy(b + 12, &i, 4);
        memcpy(b + 16, &now, 8);
        siov[nb].iov_base = b;
        siov[nb].iov_len = PKT;
        smsg[nb].msg_hdr.msg_iov = &siov[nb];
        smsg[nb].msg_hdr.msg_iovlen = 1;
        smsg[nb].msg_hdr.msg_name = &l->to;
        smsg[nb].msg_hdr.msg_namelen = sizeof l->to;
        l->seq++;
        l->sent++;
        if (++nb == BATCH || i + 20 >= nlegs) {
          int off = 0;
          while (off < nb) {
            int r = sendmmsg(fd, smsg + off, nb - off, 0);
            if (r < 0) { if (errno == EAGAIN) { poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 1); continue; } send_errors += nb - off; break; }
            off += r;
          }
          nb = 0;
        }
      }
      k++;
      continue;
    }
    /* Sleep to the next send tick (at most DRAIN_NS), not in poll() on the socket: see run_sink. */
    int64_t next = due < stop ? due : drain_until;
    int64_t wait = next - now_ns(CLOCK_MONOTONIC);
    if (wait > DRAIN_NS) wait = DRAIN_NS;
    if (wait > 0) nap(wait);
  }
  uint64_t sent = 0, received = 0, lost = 0;
  int calls_ok = 0;
  for (int c = 0; c < calls; c++) {
    int ok = 1;
    for (int k2 = 0; k2 < 2; k2++) {
      struct leg *l = &legs[c * 2 + k2];
      sent += l->sent;
      received += l->received;
      if (l->received < l->sent) { lost += l->sent - l->received; ok = 0; }
    }
    calls_ok += ok;
  }
  printf("{\"calls\":%d,\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"calls_without_loss\":%d,\"send_errors\":%llu,"
         "\"jitter_p50_ms\":%.3f,\"jitter_p99_ms\":%.3f,\"jitter_max_ms\":%.3f}\n",
         calls, (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost, calls_ok,
         (unsigned long long)send_errors, hist_q(0.5), hist_q(0.99), hist_max_ms);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: rtpload sink|relay SECONDS\n"); return 2; }
  double seconds = atof(argv[2]);
  if (strcmp(argv[1], "sink") == 0) return run_sink(seconds);
  if (strcmp(argv[1], "relay") == 0) return run_relay(seconds);
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
