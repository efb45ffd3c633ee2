"""What every admin page of the app shares: its stylesheet, the permission
check the custom actions use, and the base for rows changed only through gradebook."""

from django.contrib import admin


class AdminMedia:
    css = {"all": ["timeback_progress/admin.css"]}


def app_perm(request, codename):
    """Whether the user holds ``timeback_progress.<codename>``."""
    return request.user.has_perm(f"timeback_progress.{codename}")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible with the view permission; never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
