/*
 * xen_version sub-ops a PVH Linux issues at boot: the version (which must agree with CPUID
 * base+1), the extraversion string, and the feature bitmap, which must include
 * auto_translated_physmap (PVH grants depend on it). Unknown sub-ops and submaps are refused.
 */
#include "xtf.h"

const char xtf_test_title[] = "xen_version and features";

void test_main(void)
{
    long ver = HYPERVISOR_xen_version(XENVER_version, NULL);
    uint32_t cpuid_ver = cpuid(xtf_cpuid_base + 1).eax;
    xtf_check(ver > 0 && (uint32_t)ver == cpuid_ver, "XENVER_version %ld.%ld matches CPUID base+1 0x%x", ver >> 16, ver & 0xffff, cpuid_ver);

    xen_extraversion_t extra;
    memset(extra, 0xff, sizeof(extra));
    long rc = HYPERVISOR_xen_version(XENVER_extraversion, extra);
    size_t len = 0;
    while (len < sizeof(extra) && extra[len])
        len++;
    xtf_check(rc == 0 && len < sizeof(extra), "XENVER_extraversion returns a terminated string \"%s\" (rc %ld)",
              len < sizeof(extra) ? extra : "?", rc);

    struct xen_feature_info fi = {.submap_idx = 0, .submap = 0xdeadbeef};
    rc = HYPERVISOR_xen_version(XENVER_get_features, &fi);
    xtf_check_rc(rc, 0, "XENVER_get_features(0)");
    xtf_check(rc == 0 && (fi.submap & (1u << XENFEAT_auto_translated_physmap)), "feature auto_translated_physmap set (submap 0x%x)", fi.submap);

    fi = (struct xen_feature_info){.submap_idx = XENFEAT_NR_SUBMAPS + 7};
    xtf_check_rc(HYPERVISOR_xen_version(XENVER_get_features, &fi), -XEN_EINVAL, "XENVER_get_features(bad submap)");
    xtf_check_rc(HYPERVISOR_xen_version(0x7ff, NULL), -XEN_ENOSYS, "xen_version(unknown sub-op)");
}
