# Shared by the .deb postinst and the .rpm %pre (build.sh pastes it in place of the line
# "#@CREATE_USER@"); POSIX sh. Creates the pgseal system user and group if missing:
# systemd-sysusers with the package's sysusers.d line where available, else useradd (roots
# without systemd, such as minimal chroots and containers).
pgseal_create_user() {
    getent passwd pgseal >/dev/null 2>&1 && return 0
    if command -v systemd-sysusers >/dev/null 2>&1; then
        printf '%s\n' '@SYSUSERS_LINE@' |
            systemd-sysusers --replace=/usr/lib/sysusers.d/pgseal.conf - >/dev/null 2>&1 || :
        getent passwd pgseal >/dev/null 2>&1 && return 0
    fi
    if getent group pgseal >/dev/null 2>&1; then group_opt="--gid pgseal"; else group_opt="--user-group"; fi
    # shellcheck disable=SC2086
    useradd --system $group_opt --home-dir /var/lib/pgseal --no-create-home \
        --shell /usr/sbin/nologin --comment "pgseal PostgreSQL audit proxy" pgseal
}
