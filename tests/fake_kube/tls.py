"""A throwaway certificate authority and a server certificate for 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class ServerCertificate:
    """PEM texts of a CA and of a server certificate it signed, with the server's key."""

    ca_pem: str
    cert_pem: str
    key_pem: str

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain reads files only, so the PEMs live briefly on disk.
        with tempfile.TemporaryDirectory(prefix="fake-kube-tls-") as folder:
            chain, key = Path(folder, "server.crt"), Path(folder, "server.key")
            chain.write_text(self.cert_pem + self.ca_pem)
            key.write_text(self.key_pem)
            key.chmod(0o600)
            context.load_cert_chain(chain, key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (builder.serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)))


def _issue_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("fake-kube-server-ca")
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False)
    # Python's strict X.509 checks want the CA's key usage and key identifier present.
    cert = (
        _validity(x509.CertificateBuilder()).subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_certificate(host: str = "127.0.0.1") -> ServerCertificate:
    """A new CA (like k3s's ``k3s-server-ca``) and a server certificate for ``host``."""
    ca_cert, ca_key = _issue_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([
        x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost"),
        x509.DNSName("kubernetes.default.svc")])
    cert = (
        _validity(x509.CertificateBuilder()).subject_name(_name("kube-apiserver"))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .add_extension(names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ServerCertificate(ca_pem=_pem(ca_cert), cert_pem=_pem(cert), key_pem=key_pem)
