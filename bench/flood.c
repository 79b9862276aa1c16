/*
 * flood: the UDP flooder of bench/flood.ts. Compiled on first use into bench/bin/flood (gcc -O2).
 * Linux only (sendmmsg).
 *
 *   flood PORT SOURCE_ADDRESS RATE SECONDS TEMPLATES
 *     Sends RATE datagrams a second for SECONDS to 127.0.0.1:PORT from SOURCE_ADDRESS (port chosen
 *     by the kernel), cycling through the datagrams of the TEMPLATES file (records of a 4-byte
 *     little-endian length and that many bytes). Every run of ten '@' in a template is replaced by
 *     the message's serial number (zero-padded), so that each INVITE or REGISTER is a new
 *     transaction with its own Call-ID, branch and caller, not a retransmission. Sends in batches
 *     of up to 64 (sendmmsg), paced against the monotonic clock every millisecond. Prints one JSON
 *     line: sent, errors, seconds.
 *
 * Loopback UDP never blocks the sender: what the engine cannot read in time is dropped by the
 * kernel at its socket (the caller reads Udp RcvbufErrors from /proc/net/snmp for that).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DGRAM 65536
#define MAX_MARKS 8
#define MARK_LEN 10

struct template {
  unsigned char *bytes;
  size_t len;
  size_t marks[MAX_MARKS];
  int nmarks;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct template *load(const char *file, int *count) {
  FILE *f = fopen(file, "rb");
  if (!f) { perror(file); exit(2); }
  int cap = 64, n = 0;
  struct template *t = malloc(sizeof *t * cap);
  for (;;) {
    unsigned char hdr[4];
    if (fread(hdr, 1, 4, f) != 4) break;
    size_t len = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (size_t)hdr[3] << 24;
    if (len == 0 || len > MAX_DGRAM) { fprintf(stderr, "flood: bad record length %zu\n", len); exit(2); }
    if (n == cap) { cap *= 2; t = realloc(t, sizeof *t * cap); }
    t[n].bytes = malloc(len);
    t[n].len = len;
    if (fread(t[n].bytes, 1, len, f) != len) { fprintf(stderr, "flood: truncated record\n"); exit(2); }
    t[n].nmarks = 0;
    for (size_t i = 0; i + MARK_LEN <= len && t[n].nmarks < MAX_MARKS; i++) {
      if (memcmp(t[n].bytes + i, "@@@@@@@@@@", MARK_LEN) == 0) { t[n].marks[t[n].nmarks++] = i; i += MARK_LEN - 1; }
    }
    n++;
  }
  fclose(f);
  if (n == 0) { fprintf(stderr, "flood: no templates\n"); exit(2); }
  *count = n;
  return t;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: flood PORT SOURCE_ADDRESS RATE SECONDS TEMPLATES\n"); return 2; }
  int port = atoi(argv[1]);
  double rate = atof(argv[3]), seconds = atof(argv[4]);
  int ntemplates;
  struct template *templates = load(argv[5], &ntemplates);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = 0 };
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, argv[2], &src.sin_addr) != 1 || inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr) != 1) { fprintf(stderr, "flood: bad address\n"); return 2; }
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 2; }
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 2; }
  int sndbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  static unsigned char bufs[BATCH][MAX_DGRAM];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, errors = 0, serial = 0;
  double t0 = now_s(), end = t0 + seconds;
  for (;;) {
    double t = now_s();
    if (t >= end) break;
    uint64_t due = (uint64_t)((t - t0) * rate);
    while (sent + errors < due) {
      uint64_t want = due - sent - errors;
      int nb = want < BATCH ? (int)want : BATCH;
      for (int i = 0; i < nb; i++) {
        struct template *tp = &templates[serial % ntemplates];
        memcpy(bufs[i], tp->bytes, tp->len);
        char digits[MARK_LEN + 1];
        snprintf(digits, sizeof digits, "%010llu", (unsigned long long)(serial % 10000000000ULL));
        for (int m = 0; m < tp->nmarks; m++) memcpy(bufs[i] + tp->marks[m], digits, MARK_LEN);
        iov[i].iov_len = tp->len;
        serial++;
      }
      int r = sendmmsg(fd, msgs, nb, 0);
      if (r < 0) {
        // ECONNREFUSED: an ICMP from a moment when nobody listened; count and go on.
        errors += nb;
        if (errno != ECONNREFUSED && errno != EAGAIN && errno != ENOBUFS) { perror("sendmmsg"); break; }
      } else {
        sent += r;
        errors += nb - r;
      }
    }
    struct timespec pause = { 0, 1000000 };
    nanosleep(&pause, NULL);
  }
  printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.3f}\n", (unsigned long long)sent, (unsigned long long)errors, now_s() - t0);
  return 0;
}
