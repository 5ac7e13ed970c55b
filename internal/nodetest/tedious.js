// Drives tedious's Always Encrypted code for confide's interoperability
// tests. Reads a JSON array of requests on stdin, writes a JSON array of
// results. argv[2] is the node_modules directory holding tedious.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const lib = process.argv[2] + '/tedious/lib/always-encrypted/';
const { AeadAes256CbcHmac256Algorithm } = require(lib + 'aead-aes-256-cbc-hmac-algorithm');
const { AeadAes256CbcHmac256EncryptionKey } = require(lib + 'aead-aes-256-cbc-hmac-encryption-key');
const { ColumnEncryptionAzureKeyVaultProvider } = require(lib + 'keystore-provider-azure-key-vault');

// A key vault provider whose vault is a local RSA key: tedious's own
// parsing, layout and checks of encrypted CEKs, with the RSA operations
// done here as Azure Key Vault would do them.
function localProvider(pem) {
  const key = crypto.createPrivateKey(pem);
  const p = Object.create(ColumnEncryptionAzureKeyVaultProvider.prototype);
  p.firstVersion = Buffer.from([0x01]);
  p.validateEncryptionAlgorithm = (a) => a;
  p.getMasterKey = async () => key;
  p.getAKVKeySize = () => key.asymmetricKeyDetails.modulusLength / 8;
  const digestInfo = Buffer.from('3031300d060960864801650304020105000420', 'hex');
  p.createCryptoClient = () => ({
    verify: async (alg, digest, sig) => {
      let ok = false;
      try {
        const di = crypto.publicDecrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
        ok = di.equals(Buffer.concat([digestInfo, digest]));
      } catch (e) { ok = false; }
      return { result: ok };
    },
  });
  p.azureKeyVaultUnWrap = async (c, a, ct) => crypto.privateDecrypt({ key, oaepHash: 'sha1', padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, ct);
  p.azureKeyVaultWrap = async (c, a, k) => crypto.publicEncrypt({ key, oaepHash: 'sha1', padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, k);
  p.azureKeyVaultSignedHashedData = async (c, digest) => crypto.privateEncrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, Buffer.concat([digestInfo, digest]));
  return p;
}

async function run(r) {
  try {
    switch (r.op) {
      case 'cell-encrypt': case 'cell-decrypt': {
        const key = new AeadAes256CbcHmac256EncryptionKey(Buffer.from(r.cek, 'hex'), 'AEAD_AES_256_CBC_HMAC_SHA256');
        const alg = new AeadAes256CbcHmac256Algorithm(key, r.deterministic ? 1 : 2);
        const out = r.op === 'cell-encrypt' ? alg.encryptData(Buffer.from(r.data, 'hex')) : alg.decryptData(Buffer.from(r.data, 'hex'));
        return { data: out.toString('hex') };
      }
      case 'cek-encrypt':
        return { data: (await localProvider(r.pem).encryptColumnEncryptionKey(r.path, 'RSA_OAEP', Buffer.from(r.data, 'hex'))).toString('hex') };
      case 'cek-decrypt':
        return { data: (await localProvider(r.pem).decryptColumnEncryptionKey(r.path, 'RSA_OAEP', Buffer.from(r.data, 'hex'))).toString('hex') };
    }
    return { error: 'unknown op ' + r.op };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

(async () => {
  const reqs = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const r of reqs) out.push(await run(r));
  process.stdout.write(JSON.stringify(out));
})();
