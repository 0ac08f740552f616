#pragma once

#include <string>

namespace callgate::testing {

// A CA, a server certificate it signed for "localhost" and 127.0.0.1 and a
// client certificate it signed, made at test time with OpenSSL and written
// as PEM files into `dir`.
struct test_pki {
    std::string ca_cert;     // CA certificate (trust anchor)
    std::string server_cert; // server certificate chain
    std::string server_key;  // server private key
    std::string client_cert; // client certificate (extended key usage clientAuth)
    std::string client_key;  // its private key
};

test_pki make_test_pki(const std::string& dir);

} // namespace callgate::testing
