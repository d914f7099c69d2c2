// Linking by phone number, computed with Baileys' own helpers (lib/Utils) as its requestPairingCode and
// link_code_companion_reg handling compose them, for our connector/engines/web/pairing_code.py.
// stdin:  {"code_bytes": hex, "code": str, "salt": hex, "iv": hex, "key": hex, "ephemeral_private": hex,
//          "identity_private": hex, "identity_public": hex, "primary_identity_public": hex,
//          "primary_ephemeral_public": hex, "random": hex, "bundle_salt": hex, "bundle_iv": hex}
// stdout: {"code": str, "wrapped": hex, "bundle": hex, "adv_secret": hex}
import { Curve, aesEncryptCTR, aesEncryptGCM, derivePairingCodeKey, hkdf } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { bytesToCrockford } from '@whiskeysockets/baileys/lib/Utils/generics.js'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const hex = (text) => Buffer.from(text, 'hex')
const codeKey = await derivePairingCodeKey(input.code, hex(input.salt))
const wrapped = Buffer.concat([hex(input.salt), hex(input.iv), aesEncryptCTR(hex(input.key), codeKey, hex(input.iv))])

const shared = Curve.sharedKey(hex(input.ephemeral_private), hex(input.primary_ephemeral_public))
const bundleKey = hkdf(shared, 32, { salt: hex(input.bundle_salt), info: 'link_code_pairing_key_bundle_encryption_key' })
const payload = Buffer.concat([hex(input.identity_public), hex(input.primary_identity_public), hex(input.random)])
const encrypted = aesEncryptGCM(payload, bundleKey, hex(input.bundle_iv), Buffer.alloc(0))
const bundle = Buffer.concat([hex(input.bundle_salt), hex(input.bundle_iv), encrypted])
const identityShared = Curve.sharedKey(hex(input.identity_private), hex(input.primary_identity_public))
const adv = hkdf(Buffer.concat([shared, identityShared, hex(input.random)]), 32, { info: 'adv_secret' })

process.stdout.write(JSON.stringify({
	code: bytesToCrockford(hex(input.code_bytes)),
	wrapped: wrapped.toString('hex'),
	bundle: bundle.toString('hex'),
	adv_secret: Buffer.from(adv).toString('hex')
}))
