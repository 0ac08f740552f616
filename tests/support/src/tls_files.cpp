#include "callgate/testing/tls_files.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>

namespace callgate::testing {
namespace {

EVP_PKEY* make_key()
{
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr)
        throw std::runtime_error("EC key generation failed");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr)
        throw std::runtime_error("bad X509 extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

enum class cert_role { ca, server, client };

X509* make_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                cert_role role, long serial)
{
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer != nullptr ? issuer : cert;
    if (role == cert_role::ca) {
        add_extension(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (role == cert_role::server) {
        add_extension(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
        // clientAuth too: etcd's JSON gateway dials its own gRPC port with the server certificate.
        add_extension(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth");
    } else {
        add_extension(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert, signer, NID_ext_key_usage, "clientAuth");
    }
    X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
    return cert;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key)
{
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr)
        throw std::runtime_error("cannot write " + path);
    if (cert != nullptr)
        PEM_write_X509(f, cert);
    if (key != nullptr)
        PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
}

} // namespace

test_pki make_test_pki(const std::string& dir)
{
    EVP_PKEY* ca_key = make_key();
    X509* ca = make_cert(ca_key, "callgate test CA", nullptr, nullptr, cert_role::ca, 1);
    EVP_PKEY* server_key = make_key();
    X509* server = make_cert(server_key, "localhost", ca, ca_key, cert_role::server, 2);
    EVP_PKEY* client_key = make_key();
    X509* client = make_cert(client_key, "callgate test client", ca, ca_key, cert_role::client, 3);
    test_pki pki{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/client.pem", dir + "/client.key"};
    write_pem(pki.ca_cert, ca, nullptr);
    write_pem(pki.server_cert, server, nullptr);
    write_pem(pki.server_key, nullptr, server_key);
    write_pem(pki.client_cert, client, nullptr);
    write_pem(pki.client_key, nullptr, client_key);
    X509_free(client);
    EVP_PKEY_free(client_key);
    X509_free(server);
    X509_free(ca);
    EVP_PKEY_free(server_key);
    EVP_PKEY_free(ca_key);
    return pki;
}

} // namespace callgate::testing
