/* What a container with CAP_NET_RAW can reach by forging frames: a TCP SYN built by hand
   and sent on eth0 through an AF_PACKET socket to the gateway's MAC, addressed to each
   DEST:PORT given (IPv4, IPv6 or gw for the gateway: 127.0.0.1:8080 [::1]:8080 gw:80), bypassing the
   container's own routing. For each, prints DEST:PORT=synack, =rst or =none: what came
   back within a second. Built static so it runs in any image.
   usage: netprobe DEST:PORT... */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int ifindex;
static uint8_t own_mac[6], gw_mac[6];
static struct in_addr own_ip, gw_ip;

static uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t add(const void *data, size_t len, uint32_t sum) {
    const uint8_t *p = data;
    for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
    if (len & 1) sum += p[len - 1] << 8;
    return sum;
}

static void tcp_syn(uint8_t *tcp, uint16_t sport, uint16_t dport) {
    memset(tcp, 0, 20);
    tcp[0] = sport >> 8; tcp[1] = sport & 0xff;
    tcp[2] = dport >> 8; tcp[3] = dport & 0xff;
    tcp[4] = 0x12; tcp[5] = 0x34; tcp[6] = 0x56; tcp[7] = 0x78;  /* sequence */
    tcp[12] = 5 << 4;                                              /* header length */
    tcp[13] = 0x02;                                                /* SYN */
    tcp[14] = 0xff; tcp[15] = 0xff;                                /* window */
}

/* Ethernet + IPv4 + TCP SYN; returns the frame's length */
static size_t frame4(uint8_t *f, struct in_addr dst, uint16_t sport, uint16_t dport) {
    memcpy(f, gw_mac, 6); memcpy(f + 6, own_mac, 6); f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14, *tcp = ip + 20;
    memset(ip, 0, 20);
    ip[0] = 0x45; ip[3] = 40; ip[6] = 0x40; ip[8] = 64; ip[9] = IPPROTO_TCP;
    memcpy(ip + 12, &own_ip, 4); memcpy(ip + 16, &dst, 4);
    uint16_t c = fold(add(ip, 20, 0)); ip[10] = c >> 8; ip[11] = c & 0xff;
    tcp_syn(tcp, sport, dport);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8); pseudo[8] = 0; pseudo[9] = IPPROTO_TCP; pseudo[10] = 0; pseudo[11] = 20;
    c = fold(add(tcp, 20, add(pseudo, 12, 0))); tcp[16] = c >> 8; tcp[17] = c & 0xff;
    return 14 + 40;
}

/* Ethernet + IPv6 (from a link-local address made of the MAC) + TCP SYN */
static size_t frame6(uint8_t *f, struct in6_addr dst, uint16_t sport, uint16_t dport) {
    memcpy(f, gw_mac, 6); memcpy(f + 6, own_mac, 6); f[12] = 0x86; f[13] = 0xdd;
    uint8_t *ip = f + 14, *tcp = ip + 40;
    memset(ip, 0, 40);
    ip[0] = 0x60; ip[5] = 20; ip[6] = IPPROTO_TCP; ip[7] = 64;
    uint8_t src[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, own_mac[0] ^ 2, own_mac[1], own_mac[2], 0xff, 0xfe,
                       own_mac[3], own_mac[4], own_mac[5]};
    memcpy(ip + 8, src, 16); memcpy(ip + 24, &dst, 16);
    tcp_syn(tcp, sport, dport);
    uint8_t pseudo[40] = {0};
    memcpy(pseudo, ip + 8, 32); pseudo[35] = 20; pseudo[39] = IPPROTO_TCP;
    uint16_t c = fold(add(tcp, 20, add(pseudo, 40, 0))); tcp[16] = c >> 8; tcp[17] = c & 0xff;
    return 14 + 60;
}

static int setup(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r = {0};
    strcpy(r.ifr_name, "eth0");
    if (ioctl(s, SIOCGIFINDEX, &r) < 0) { perror("eth0"); return -1; }
    ifindex = r.ifr_ifindex;
    ioctl(s, SIOCGIFHWADDR, &r); memcpy(own_mac, r.ifr_hwaddr.sa_data, 6);
    ioctl(s, SIOCGIFADDR, &r); own_ip = ((struct sockaddr_in *)&r.ifr_addr)->sin_addr;
    FILE *routes = fopen("/proc/net/route", "r");
    char line[256], name[32];
    unsigned dest, gw;
    while (routes && fgets(line, sizeof line, routes))
        if (sscanf(line, "%31s %x %x", name, &dest, &gw) == 3 && dest == 0) gw_ip.s_addr = gw;
    if (routes) fclose(routes);
    /* a datagram to the gateway fills the neighbour table with its MAC */
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr = gw_ip};
    for (int tries = 0; tries < 50; tries++) {
        sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
        usleep(20000);
        FILE *arp = fopen("/proc/net/arp", "r");
        char ip[64], mac[64];
        unsigned m[6];
        while (arp && fgets(line, sizeof line, arp))
            if (sscanf(line, "%63s %*s %*s %63s", ip, mac) == 2 && inet_addr(ip) == gw_ip.s_addr &&
                sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 &&
                (m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) {
                for (int i = 0; i < 6; i++) gw_mac[i] = m[i];
                fclose(arp);
                close(s);
                return 0;
            }
        if (arp) fclose(arp);
    }
    fprintf(stderr, "no MAC for the gateway\n");
    return -1;
}

/* the flags of a TCP segment to `sport` in `f`, or -1 */
static int answer(const uint8_t *f, ssize_t n, uint16_t sport) {
    if (n < 14) return -1;
    const uint8_t *tcp;
    if (f[12] == 0x08 && f[13] == 0x00 && n >= 14 + 40 && f[14 + 9] == IPPROTO_TCP)
        tcp = f + 14 + (f[14] & 0x0f) * 4;
    else if (f[12] == 0x86 && f[13] == 0xdd && n >= 14 + 60 && f[14 + 6] == IPPROTO_TCP)
        tcp = f + 14 + 40;
    else
        return -1;
    if (tcp + 20 > f + n || ((tcp[2] << 8) | tcp[3]) != sport) return -1;
    return tcp[13];
}

int main(int argc, char **argv) {
    if (setup() < 0) return 2;
    int tx = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    int rx = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (tx < 0 || rx < 0) { perror("AF_PACKET"); return 2; }
    struct sockaddr_ll where = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex,
                                .sll_halen = 6};
    memcpy(where.sll_addr, gw_mac, 6);
    bind(rx, (struct sockaddr *)&where, sizeof where);
    srand(time(0) ^ getpid());
    for (int i = 1; i < argc; i++) {
        char host[128];
        snprintf(host, sizeof host, "%s", argv[i]);
        char *colon = strrchr(host, ':');
        if (!colon) return 2;
        *colon = 0;
        uint16_t dport = atoi(colon + 1), sport = 20000 + rand() % 30000;
        uint8_t f[128];
        size_t n;
        if (host[0] == '[') {
            struct in6_addr a6;
            host[strlen(host) - 1] = 0;
            if (inet_pton(AF_INET6, host + 1, &a6) != 1) return 2;
            n = frame6(f, a6, sport, dport);
        } else {
            struct in_addr a4 = gw_ip;
            if (strcmp(host, "gw") && inet_pton(AF_INET, host, &a4) != 1) return 2;
            n = frame4(f, a4, sport, dport);
        }
        if (sendto(tx, f, n, 0, (struct sockaddr *)&where, sizeof where) < 0) { perror("send"); return 2; }
        const char *got = "none";
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long left = 1000 - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
            struct pollfd p = {.fd = rx, .events = POLLIN};
            if (left <= 0 || poll(&p, 1, left) <= 0) break;
            uint8_t in[2048];
            struct sockaddr_ll from;
            socklen_t len = sizeof from;
            ssize_t m = recvfrom(rx, in, sizeof in, 0, (struct sockaddr *)&from, &len);
            if (from.sll_pkttype == PACKET_OUTGOING) continue;
            int flags = answer(in, m, sport);
            if (flags < 0) continue;
            got = (flags & 0x12) == 0x12 ? "synack" : (flags & 0x04) ? "rst" : "other";
            break;
        }
        printf("%s=%s\n", argv[i], got);
    }
    return 0;
}
