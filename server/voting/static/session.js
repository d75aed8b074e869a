/* pingyi: the session QR on the phone (/v/s/<scene>, server/miniprogram/web_claim.py).
 *
 * WeChat's web authorization has just sent the phone back with ?code=… (the server
 * checked its state). This page makes its own token, blinds it with the category's
 * public key (RFC 9474 RSABSSA-SHA384-PSS-Randomized, the bundled @cloudflare/blindrsa-ts:
 * vendor/blindrsa.js), claims a blind signature with the code, unblinds it and votes
 * with token + signature through vote.js. The server never sees the token before the
 * ballot form, so it cannot tie the WeChat user to it. Token and signature stay in this
 * tab (sessionStorage) until the ballot is accepted, so a reload keeps the claim.
 */
(function () {
  'use strict';

  var ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ'; // server/tokens/codec.py
  var ALG = { name: 'RSA-PSS', hash: 'SHA-384' };

  function $(id) { return document.getElementById(id); }

  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function keyOf(roundId) { return 'pingyi:session-token:' + roundId; }

  function kept(roundId) {
    var ss = storage();
    try { return JSON.parse((ss && ss.getItem(keyOf(roundId))) || 'null'); } catch (e) { return null; }
  }

  function keep(roundId, value) {
    var ss = storage();
    try { if (ss) ss.setItem(keyOf(roundId), JSON.stringify(value)); } catch (e) { /* full */ }
  }

  function b64(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  function unb64(text) {
    var s = atob(text), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  // "<round>." + 26 characters of the slip alphabet, uniform (rejection sampling).
  function newToken(roundId) {
    var out = '';
    while (out.length < 26) {
      var buf = crypto.getRandomValues(new Uint8Array(32));
      for (var i = 0; i < buf.length && out.length < 26; i++) {
        if (buf[i] < 248) out += ALPHABET.charAt(buf[i] % 31);
      }
    }
    return roundId + '.' + out;
  }

  function roundOf(scene) {
    var m = /^S([1-9][0-9]*)\./.exec(scene || '');
    return m ? m[1] : null;
  }

  var V = null, DATA = null;

  function again() { location.replace(location.pathname); } // a fresh authorization

  function refused(title, text, extra) {
    V.showState({ icon: 'bad', tone: 'error', title: title, text: text, extra: extra || '',
      primary: ['重新扫码授权', again] });
  }

  async function claim(code) {
    var scene = DATA.scene;
    if (!window.crypto || !crypto.subtle || !window.pingyiBlindRSA || !window.TextEncoder) {
      return refused('无法领取投票码', '当前浏览器不支持所需的加密功能，请在微信中通过 https 地址打开，或使用选票投票。');
    }
    V.loading('正在领取投票码…');
    var token, signature;
    try {
      var key = await V.api('/session-keys', { scene: scene });
      var publicKey = await crypto.subtle.importKey('spki', unb64(key.public_key), ALG, true, ['verify']);
      var suite = pingyiBlindRSA.RSABSSA.SHA384.PSS.Randomized();
      token = newToken(key.round_id);
      var prepared = suite.prepare(new TextEncoder().encode(token));
      var blinded = await suite.blind(publicKey, prepared);
      var res = await V.api('/session-claims',
        { scene: scene, oauth_code: code, blinded_msg: b64(blinded.blindedMsg) });
      var sig = await suite.finalize(publicKey, prepared, unb64(res.blind_sig), blinded.inv);
      var both = new Uint8Array(32 + sig.length);
      both.set(prepared.slice(0, 32));
      both.set(sig, 32);
      signature = b64(both);
    } catch (err) {
      return claimFailed(err);
    }
    keep(roundOf(scene), { token: token, signature: signature });
    return openBallot({ token: token, signature: signature });
  }

  function claimFailed(err) {
    var msg = err && err.message;
    switch (err && err.code) {
      case 'already_claimed':
        return V.showState({ icon: 'used', tone: 'info', title: '您已领取过投票码',
          text: msg || '您已经领取过本次测评的投票码，每人只能领取一次。',
          extra: '如在其他手机或页面领取过，请回到那里投票。' });
      case 'session_pool_empty':
        return V.showState({ icon: 'bad', tone: 'warn', title: '投票码已领完', text: msg });
      case 'round_closed':
        return V.showState({ icon: 'closed', tone: 'grey', title: '投票已结束', text: msg });
      case 'session_code_invalid':
        return refused('二维码已失效', msg, '请扫描大屏上当前显示的二维码。');
      case 'wechat_code_invalid':
        return refused('微信授权已失效', msg);
      case 'network':
        return V.showState({ icon: 'net', tone: 'warn', title: '网络连接失败',
          text: '未能领取投票码，请检查网络后重新扫码。', primary: ['重新扫码授权', again] });
      default:
        if (err && err.code) return refused('无法领取投票码', msg || '请稍后重新扫码。');
        return refused('无法领取投票码', '签名校验失败，请重新扫码。'); // finalize refused
    }
  }

  async function openBallot(claimed) {
    V.loading('正在加载选票…');
    var data;
    try {
      data = await V.api('/ballot-form', { token: claimed.token, signature: claimed.signature });
    } catch (err) {
      if (err.code === 'token_spent' || err.code === 'round_closed') spent(claimed.token);
      return V.showErrorState(err, 'load', function () { openBallot(claimed); });
    }
    V.open(claimed.token, data, claimed.signature);
  }

  function spent(token) {
    var roundId = String(token || '').split('.')[0];
    var ss = storage(), mine = kept(roundId);
    try { if (ss && mine && mine.token === token) ss.removeItem(keyOf(roundId)); } catch (e) { /* */ }
  }

  function start(vote) {
    V = vote;
    try { DATA = JSON.parse($('session-data').textContent); } catch (e) { DATA = { error: {} }; }
    var code = new URLSearchParams(location.search).get('code');
    if (location.search) { // the one-time code out of the address bar and history
      try { history.replaceState(null, '', location.pathname); } catch (e) { /* old WebView */ }
    }
    if (DATA.error) return refused('无法领取投票码', DATA.error.message || '请重新扫码。');
    var mine = kept(roundOf(DATA.scene));
    if (mine && mine.token && mine.signature) return openBallot(mine); // reloaded: claimed already
    if (!code) return again();
    return claim(code);
  }

  window.pingyiSession = { start: start, spent: spent };
}());
