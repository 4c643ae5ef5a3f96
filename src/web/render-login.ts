// The login form; the error, when there is one, never repeats the password.
import { html, type SafeHtml } from './escape-html.js';

export function renderLogin(user: string, error: string | undefined): SafeHtml {
  return html`<form class="login" method="post" action="/login">${error === undefined ? html`` : html`<p class="error" id="login-error">${error}</p>`}
<label>user<input name="user" id="user" value="${user}" autocomplete="username" maxlength="64" required autofocus></label>
<label>password<input name="password" id="password" type="password" autocomplete="current-password" maxlength="1024" required></label>
<button type="submit" id="login">log in</button></form>`;
}
